import { graphql } from "../../gql";

export const MemberFields = graphql(`
  fragment MemberFields on ProjectMember {
    role
    joinedAt
    user {
      id
      name
      email
    }
  }
`);
