import { graphql } from "../../gql";

export const AuditEventFields = graphql(`
  fragment AuditEventFields on AuditEvent {
    id
    action
    targetType
    targetId
    actorApiKeyId
    actorSystem
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
