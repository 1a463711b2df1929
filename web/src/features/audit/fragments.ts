import { graphql } from "../../gql";

export const AuditEventFields = graphql(`
  fragment AuditEventFields on AuditEvent {
    id
    action
    targetType
    targetId
    actorApiKeyId
    details
    clientIp
    createdAt
    actor {
      id
      name
    }
    targetUser {
      id
      name
    }
  }
`);
