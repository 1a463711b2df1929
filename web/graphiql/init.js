// Mounts GraphiQL on the service's /graphql page, from the local copies of React, GraphiQL and
// the explorer plugin that the page loads before this file (globals React, ReactDOM, GraphiQL,
// GraphiQLPluginExplorer). A file, not an inline script, so the page's CSP can forbid inline code.
(function () {
  "use strict";

  var fetchURL = window.location.origin + window.location.pathname;

  // The query (`q`; a `query` parameter would make the service run it over GET) and variables live
  // in the URL so a link shares them; headers never do (they hold tokens), and GraphiQL is told
  // not to keep them in localStorage either.
  var parameters = {};
  new URLSearchParams(window.location.search).forEach(function (value, key) {
    parameters[key] = value;
  });

  function updateURL(changes) {
    Object.assign(parameters, changes);
    var search = new URLSearchParams();
    Object.keys(parameters).forEach(function (key) {
      if (parameters[key]) search.set(key, parameters[key]);
    });
    var query = search.toString();
    window.history.replaceState(null, "", query ? "?" + query : window.location.pathname);
  }

  var DEFAULT_QUERY = [
    "# GraphiQL for TrayLinx Keys.",
    "#",
    "# Sign up or log in with a mutation, then put",
    "# the access token (or a project API key) in",
    "# the Headers tab below:",
    '#   {"Authorization": "Bearer <token>"}',
    "# Run with Ctrl-Enter.",
    "",
    "query {",
    "  viewer {",
    "    __typename",
    "    ... on User { id email name }",
    "    ... on Project { id name }",
    "  }",
    "}",
    "",
  ].join("\n");

  var fetcher = GraphiQL.createFetcher({ url: fetchURL });
  var explorer = GraphiQLPluginExplorer.explorerPlugin();

  function App() {
    var query = React.useState(parameters.q || DEFAULT_QUERY);
    var variables = React.useState(parameters.variables);
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      query: query[0],
      variables: variables[0],
      onEditQuery: function (value) {
        query[1](value);
        updateURL({ q: value });
      },
      onEditVariables: function (value) {
        variables[1](value);
        updateURL({ variables: value });
      },
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    });
  }

  // The console's icon, so the browser does not ask for a /favicon.ico the service does not have.
  if (!document.querySelector("link[rel~='icon']")) {
    var icon = document.createElement("link");
    icon.rel = "icon";
    icon.type = "image/svg+xml";
    icon.href = "/admin/favicon.svg";
    document.head.appendChild(icon);
  }

  var container = document.getElementById("graphiql");
  if (!container) {
    container = document.createElement("div");
    container.id = "graphiql";
    document.body.appendChild(container);
  }
  // The page has no stylesheet of its own: size the editor through the CSSOM, which the CSP allows.
  document.body.style.margin = "0";
  document.body.style.overflow = "hidden";
  container.style.height = "100vh";
  container.style.display = "flex";

  ReactDOM.createRoot(container).render(React.createElement(App));

  // Accessibility fixes for GraphiQL 3.8.3 itself (axe-core finds these on its own page):
  // - its syntax colours and links are too pale on white: darker shades of the same hues, as
  //   rules added through the CSSOM to its stylesheet (the CSP forbids <style> elements);
  // - CodeMirror's hidden textareas have no label, and its scrolling areas cannot get focus.
  var CONTRAST = [
    "#graphiql .graphiql-container, #graphiql .CodeMirror {",
    "  --color-primary: 320, 95%, 36%; --color-secondary: 242, 51%, 48%;",
    "  --color-tertiary: 188, 100%, 25%; --color-info: 208, 100%, 34%;",
    "  --color-warning: 30, 100%, 30%; --color-success: 158, 100%, 24%;",
    "  --color-neutral: 219, 28%, 30%;",
    "}",
  ].join("\n");
  // The variables and headers editors write their text at half opacity.
  var TOOL_TEXT = "#graphiql .graphiql-editor-tool .CodeMirror { color: hsl(var(--color-neutral)); }";
  var sheet = Array.prototype.find.call(document.styleSheets, function (candidate) {
    return candidate.href && candidate.href.indexOf("/graphiql/graphiql") !== -1;
  });
  if (sheet) {
    sheet.insertRule(CONTRAST, sheet.cssRules.length);
    sheet.insertRule(TOOL_TEXT, sheet.cssRules.length);
  }

  function labelEditors() {
    container.querySelectorAll(".CodeMirror textarea:not([aria-label])").forEach(function (area) {
      var labelled = area.closest("[aria-label]");
      var name = area.readOnly
        ? "Result"
        : area.closest(".graphiql-query-editor")
          ? "Query"
          : labelled
            ? labelled.getAttribute("aria-label")
            : "Variables or headers";
      area.setAttribute("aria-label", name);
    });
    // CodeMirror gives its scrollers tabindex -1; 0 lets a keyboard reach and scroll them.
    container.querySelectorAll('.CodeMirror-scroll[tabindex="-1"]').forEach(function (scroll) {
      scroll.setAttribute("tabindex", "0");
    });
  }
  new MutationObserver(labelEditors).observe(container, { childList: true, subtree: true });
})();
