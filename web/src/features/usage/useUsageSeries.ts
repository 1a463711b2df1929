import type { CombinedError } from "urql";
import { useQuery } from "urql";

import { graphql } from "../../gql";
import { describeFailure, type Failure } from "../../graphql/errors";
import type { UsageRange } from "./range";

const UsageSeriesQuery = graphql(`
  query UsageSeries($projectId: ID!, $from: DateTime!, $to: DateTime!, $granularity: UsageGranularity!, $apiKeyId: ID) {
    project(id: $projectId) {
      id
      usage(from: $from, to: $to, granularity: $granularity, apiKeyId: $apiKeyId) {
        points {
          ...UsagePointFields
        }
        totals {
          ...UsagePointFields
        }
      }
    }
  }
`);

/** A range the service refused (`from` after `to`, too long...): its words, and the argument at fault. */
export type RangeRefusal = { message: string; field: string | null };

/** The service refuses some ranges with a top-level error naming the argument; others are failures. */
export function rangeRefusal(error: CombinedError | undefined): RangeRefusal | null {
  const refused = error?.graphQLErrors.find((e) => e.extensions["code"] === "INVALID");
  if (!refused) return null;
  const field = refused.extensions["field"];
  return { message: refused.message, field: Array.isArray(field) ? String(field[0]) : null };
}

export function useUsageSeries(projectId: string, range: UsageRange | null, apiKeyId: string | null) {
  const [result, reexecute] = useQuery({
    query: UsageSeriesQuery,
    variables: {
      projectId,
      from: range?.from ?? "",
      to: range?.to ?? "",
      granularity: range?.granularity ?? "DAY",
      apiKeyId,
    },
    pause: range === null,
  });
  const refusal = rangeRefusal(result.error);
  const failure: Failure | null = result.error && !refusal ? describeFailure(result.error) : null;
  return {
    series: result.data?.project?.usage ?? null,
    fetching: result.fetching,
    refusal,
    failure,
    retry: () => reexecute({ requestPolicy: "network-only" }),
  };
}
