/** Only what a person can fix before sending; the service decides everything else. */
export function requireFilled<F extends string>(values: Record<F, string>, labels: Record<F, string>) {
  const errors: Partial<Record<F, string>> = {};
  for (const name of Object.keys(values) as F[]) {
    if (values[name].trim() === "") errors[name] = `Enter your ${labels[name].toLowerCase()}.`;
  }
  return errors;
}

/**
 * Where to go after logging in: the page the person wanted, when it is one of the console's own
 * (never another site: `next` comes from the URL, which anyone can craft).
 */
export function safeNext(next: string | null): string {
  if (next && next.startsWith("/admin/") && !next.startsWith("//") && !next.includes("\\")) {
    return next.slice("/admin".length);
  }
  return "/projects";
}

/** The login URL that brings the person back to `location` afterwards. */
export function loginPathFor(location: { pathname: string; search: string }): string {
  const next = `/admin${location.pathname}${location.search}`;
  return `/login?next=${encodeURIComponent(next)}`;
}
