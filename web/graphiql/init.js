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
})();
