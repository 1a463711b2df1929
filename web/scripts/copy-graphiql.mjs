// Puts GraphiQL's assets in dist/graphiql/, where the service serves them at /graphiql/: the same
// pinned versions its page used to load from a CDN, so /graphql works on a machine without
// internet access, under the same CSP as the console. init.js is ours (graphiql/init.js).
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(web, "dist", "graphiql");

// [package, version it must be, file in the package, name served]
const FILES = [
  ["react", "18.2.0", "umd/react.production.min.js", "react.production.min.js"],
  ["react-dom", "18.2.0", "umd/react-dom.production.min.js", "react-dom.production.min.js"],
  ["graphiql", "3.8.3", "graphiql.min.js", "graphiql.min.js"],
  ["graphiql", "3.8.3", "graphiql.min.css", "graphiql.css"],
  ["@graphiql/plugin-explorer", "1.0.2", "dist/index.umd.js", "plugin-explorer.umd.js"],
  ["@graphiql/plugin-explorer", "1.0.2", "dist/style.css", "plugin-explorer.css"],
];

mkdirSync(out, { recursive: true });
for (const [name, version, file, served] of FILES) {
  const root = join(web, "node_modules", name);
  const installed = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
  if (installed !== version) {
    console.error(`GraphiQL assets: ${name} is ${installed} in node_modules, expected ${version} (run npm ci)`);
    process.exit(1);
  }
  copyFileSync(join(root, file), join(out, served));
}
copyFileSync(join(web, "graphiql", "init.js"), join(out, "init.js"));
console.log(`GraphiQL assets copied to ${out}`);
