import type { CodegenConfig } from "@graphql-codegen/cli";

// Every operation is a typed document generated from the service's own schema file, so an
// operation that stops matching the schema fails `tsc` (and `make test` checks src/gql for drift).
const config: CodegenConfig = {
  schema: "../schema.graphql",
  documents: ["src/**/*.{ts,tsx}", "!src/gql/**/*"],
  ignoreNoDocuments: false,
  generates: {
    "./src/gql/": {
      preset: "client",
      presetConfig: {
        // Components receive plain typed data; fragments only share selections.
        fragmentMasking: false,
      },
      config: {
        scalars: { DateTime: "string", JSON: "unknown" },
        strictScalars: true,
        useTypeImports: true,
        enumsAsTypes: true,
        skipTypename: false,
      },
    },
  },
};

export default config;
