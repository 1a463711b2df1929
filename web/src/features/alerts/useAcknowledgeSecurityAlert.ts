import { graphql } from "../../gql";
import { useFormMutation } from "../../graphql/mutation";

const AcknowledgeSecurityAlertMutation = graphql(`
  mutation AcknowledgeSecurityAlert($input: AcknowledgeSecurityAlertInput!) {
    acknowledgeSecurityAlert(input: $input) {
      securityAlert {
        ...SecurityAlertFields
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

/** Takes one alert off the open list; the open count in the navigation refetches with it. */
export function useAcknowledgeSecurityAlert() {
  return useFormMutation(
    AcknowledgeSecurityAlertMutation,
    (data) => data.acknowledgeSecurityAlert,
    [],
    ["SecurityAlert"],
  );
}
