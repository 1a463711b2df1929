// Puts GraphiQL's assets in dist/graphiql/, where the service serves them at /graphiql/: the same
// pinned versions its page used to load from a CDN, so /graphql works on a machine without
// internet access, under the same CSP as the console. init.js is ours (graphiql/init.js).
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(web, "dist", "graphiql");

// [package, version it must be, file in the package, names served]
const FILES = [
  ["react", "18.2.0", "umd/react.production.min.js", ["react.production.min.js"]],
  ["react-dom", "18.2.0", "umd/react-dom.production.min.js", ["react-dom.production.min.js"]],
  ["graphiql", "3.8.3", "graphiql.min.js", ["graphiql.min.js"]],
  // Both names: the package's own, and the shorter one the service's page may link.
  ["graphiql", "3.8.3", "graphiql.min.css", ["graphiql.css", "graphiql.min.css"], "fonts"],
  ["@graphiql/plugin-explorer", "1.0.2", "dist/index.umd.js", ["plugin-explorer.umd.js"]],
  ["@graphiql/plugin-explorer", "1.0.2", "dist/style.css", ["plugin-explorer.css"]],
];

/**
 * GraphiQL's stylesheet embeds its fonts as data: URLs, which the CSP (`font-src 'self'`) refuses.
 * Write each font to fonts/<hash>.woff2 beside the stylesheet and point the rule at that file:
 * the same bytes, loaded from the service itself.
 */
function withFontFiles(css) {
  mkdirSync(join(out, "fonts"), { recursive: true });
  return css.replace(/url\((["']?)data:font\/(woff2?);base64,([A-Za-z0-9+/=]+)\1\)/g, (_match, _quote, format, data) => {
    const bytes = Buffer.from(data, "base64");
    const name = `fonts/${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}.${format}`;
    writeFileSync(join(out, name), bytes);
    return `url(${name})`;
  });
}

mkdirSync(out, { recursive: true });
for (const [name, version, file, servedNames, transform] of FILES) {
  const root = join(web, "node_modules", name);
  const installed = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
  if (installed !== version) {
    console.error(`GraphiQL assets: ${name} is ${installed} in node_modules, expected ${version} (run npm ci)`);
    process.exit(1);
  }
  for (const served of servedNames) {
    if (transform === "fonts") {
      writeFileSync(join(out, served), withFontFiles(readFileSync(join(root, file), "utf8")));
    } else {
      copyFileSync(join(root, file), join(out, served));
    }
  }
}
copyFileSync(join(web, "graphiql", "init.js"), join(out, "init.js"));
console.log(`GraphiQL assets copied to ${out}`);
