import type { CombinedError } from "urql";

/** A failure the person cannot fix by changing the form: shown with the request id to quote. */
export type Failure = {
  message: string;
  requestId: string | null;
};

export function requestIdOf(error: CombinedError | null | undefined): string | null {
  const response: unknown = error?.response;
  if (response instanceof Response) return response.headers.get("x-request-id");
  return null;
}

export function describeFailure(error: CombinedError): Failure {
  const requestId = requestIdOf(error);
  if (error.networkError && !error.response) {
    return { message: "The service could not be reached. Check your connection and try again.", requestId };
  }
  const codes = error.graphQLErrors.map((e) => e.extensions["code"]);
  if (codes.includes("UNAUTHENTICATED")) {
    return { message: "Your session has ended. Log in again.", requestId };
  }
  const status = error.response instanceof Response ? error.response.status : null;
  if (status !== null && status >= 500) {
    return { message: `The service failed to answer (HTTP ${status}).`, requestId };
  }
  const first = error.graphQLErrors[0]?.message;
  return {
    message: first && first !== "Unexpected error." ? first : "Something went wrong on our side.",
    requestId,
  };
}
