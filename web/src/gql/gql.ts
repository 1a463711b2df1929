/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  query ApiKeys($projectId: ID!, $first: Int!, $after: String, $search: String, $status: ApiKeyStatus) {\n    project(id: $projectId) {\n      id\n      apiKeys(first: $first, after: $after, search: $search, status: $status) {\n        totalCount\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n        edges {\n          node {\n            ...ApiKeyRowFields\n          }\n        }\n      }\n    }\n  }\n": typeof types.ApiKeysDocument,
    "\n  fragment ApiKeyRowFields on ApiKey {\n    id\n    note\n    start\n    status\n    createdAt\n    expiresAt\n    lastUsedAt\n    rotationDue\n    expiresSoon\n    usage24h {\n      requests\n      errors\n      lastUsedAt\n    }\n  }\n": typeof types.ApiKeyRowFieldsFragmentDoc,
    "\n  mutation CreateApiKey($input: CreateApiKeyInput!) {\n    createApiKey(input: $input) {\n      secret\n      apiKey {\n        ...ApiKeyRowFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": typeof types.CreateApiKeyDocument,
    "\n  mutation DeleteApiKey($input: DeleteApiKeyInput!) {\n    deleteApiKey(input: $input) {\n      deletedApiKeyId\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": typeof types.DeleteApiKeyDocument,
    "\n  mutation UpdateApiKeyNote($input: UpdateApiKeyNoteInput!) {\n    updateApiKeyNote(input: $input) {\n      apiKey {\n        ...ApiKeyRowFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": typeof types.UpdateApiKeyNoteDocument,
    "\n  mutation LogIn($input: LogInInput!) {\n    logIn(input: $input) {\n      accessToken\n      accessTokenExpiresAt\n      user {\n        id\n        email\n        name\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": typeof types.LogInDocument,
    "\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      accessToken\n      accessTokenExpiresAt\n      user {\n        id\n        email\n        name\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": typeof types.SignUpDocument,
    "\n  query LlmApiKeys($projectId: ID!) {\n    project(id: $projectId) {\n      id\n      llmApiKeys {\n        ...LlmApiKeyFields\n      }\n    }\n  }\n": typeof types.LlmApiKeysDocument,
    "\n  fragment LlmApiKeyFields on LlmApiKey {\n    id\n    provider\n    secretHint\n    customModels\n    withDefaultModels\n    createdAt\n    updatedAt\n    models {\n      id\n      source\n    }\n  }\n": typeof types.LlmApiKeyFieldsFragmentDoc,
    "\n  mutation AddLlmApiKey($input: AddLlmApiKeyInput!) {\n    addLlmApiKey(input: $input) {\n      llmApiKey {\n        ...LlmApiKeyFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": typeof types.AddLlmApiKeyDocument,
    "\n  mutation DeleteLlmApiKey($input: DeleteLlmApiKeyInput!) {\n    deleteLlmApiKey(input: $input) {\n      deletedLlmApiKeyId\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": typeof types.DeleteLlmApiKeyDocument,
    "\n  mutation UpdateLlmApiKey($input: UpdateLlmApiKeyInput!) {\n    updateLlmApiKey(input: $input) {\n      llmApiKey {\n        ...LlmApiKeyFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": typeof types.UpdateLlmApiKeyDocument,
    "\n  fragment ProjectHeaderFields on Project {\n    id\n    name\n    viewerRole\n    viewerCan {\n      manageApiKeys\n      manageLlmApiKeys\n      readLlmApiKeys\n    }\n  }\n": typeof types.ProjectHeaderFieldsFragmentDoc,
    "\n  query ProjectHeader($id: ID!) {\n    project(id: $id) {\n      ...ProjectHeaderFields\n    }\n  }\n": typeof types.ProjectHeaderDocument,
    "\n  query MyProjects {\n    projects(first: 100) {\n      totalCount\n      edges {\n        node {\n          id\n          name\n          viewerRole\n          createdAt\n        }\n      }\n    }\n  }\n": typeof types.MyProjectsDocument,
    "\n  mutation CreateProject($input: CreateProjectInput!) {\n    createProject(input: $input) {\n      project {\n        id\n        name\n        viewerRole\n        createdAt\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": typeof types.CreateProjectDocument,
};
const documents: Documents = {
    "\n  query ApiKeys($projectId: ID!, $first: Int!, $after: String, $search: String, $status: ApiKeyStatus) {\n    project(id: $projectId) {\n      id\n      apiKeys(first: $first, after: $after, search: $search, status: $status) {\n        totalCount\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n        edges {\n          node {\n            ...ApiKeyRowFields\n          }\n        }\n      }\n    }\n  }\n": types.ApiKeysDocument,
    "\n  fragment ApiKeyRowFields on ApiKey {\n    id\n    note\n    start\n    status\n    createdAt\n    expiresAt\n    lastUsedAt\n    rotationDue\n    expiresSoon\n    usage24h {\n      requests\n      errors\n      lastUsedAt\n    }\n  }\n": types.ApiKeyRowFieldsFragmentDoc,
    "\n  mutation CreateApiKey($input: CreateApiKeyInput!) {\n    createApiKey(input: $input) {\n      secret\n      apiKey {\n        ...ApiKeyRowFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": types.CreateApiKeyDocument,
    "\n  mutation DeleteApiKey($input: DeleteApiKeyInput!) {\n    deleteApiKey(input: $input) {\n      deletedApiKeyId\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": types.DeleteApiKeyDocument,
    "\n  mutation UpdateApiKeyNote($input: UpdateApiKeyNoteInput!) {\n    updateApiKeyNote(input: $input) {\n      apiKey {\n        ...ApiKeyRowFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": types.UpdateApiKeyNoteDocument,
    "\n  mutation LogIn($input: LogInInput!) {\n    logIn(input: $input) {\n      accessToken\n      accessTokenExpiresAt\n      user {\n        id\n        email\n        name\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": types.LogInDocument,
    "\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      accessToken\n      accessTokenExpiresAt\n      user {\n        id\n        email\n        name\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": types.SignUpDocument,
    "\n  query LlmApiKeys($projectId: ID!) {\n    project(id: $projectId) {\n      id\n      llmApiKeys {\n        ...LlmApiKeyFields\n      }\n    }\n  }\n": types.LlmApiKeysDocument,
    "\n  fragment LlmApiKeyFields on LlmApiKey {\n    id\n    provider\n    secretHint\n    customModels\n    withDefaultModels\n    createdAt\n    updatedAt\n    models {\n      id\n      source\n    }\n  }\n": types.LlmApiKeyFieldsFragmentDoc,
    "\n  mutation AddLlmApiKey($input: AddLlmApiKeyInput!) {\n    addLlmApiKey(input: $input) {\n      llmApiKey {\n        ...LlmApiKeyFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": types.AddLlmApiKeyDocument,
    "\n  mutation DeleteLlmApiKey($input: DeleteLlmApiKeyInput!) {\n    deleteLlmApiKey(input: $input) {\n      deletedLlmApiKeyId\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": types.DeleteLlmApiKeyDocument,
    "\n  mutation UpdateLlmApiKey($input: UpdateLlmApiKeyInput!) {\n    updateLlmApiKey(input: $input) {\n      llmApiKey {\n        ...LlmApiKeyFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": types.UpdateLlmApiKeyDocument,
    "\n  fragment ProjectHeaderFields on Project {\n    id\n    name\n    viewerRole\n    viewerCan {\n      manageApiKeys\n      manageLlmApiKeys\n      readLlmApiKeys\n    }\n  }\n": types.ProjectHeaderFieldsFragmentDoc,
    "\n  query ProjectHeader($id: ID!) {\n    project(id: $id) {\n      ...ProjectHeaderFields\n    }\n  }\n": types.ProjectHeaderDocument,
    "\n  query MyProjects {\n    projects(first: 100) {\n      totalCount\n      edges {\n        node {\n          id\n          name\n          viewerRole\n          createdAt\n        }\n      }\n    }\n  }\n": types.MyProjectsDocument,
    "\n  mutation CreateProject($input: CreateProjectInput!) {\n    createProject(input: $input) {\n      project {\n        id\n        name\n        viewerRole\n        createdAt\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": types.CreateProjectDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ApiKeys($projectId: ID!, $first: Int!, $after: String, $search: String, $status: ApiKeyStatus) {\n    project(id: $projectId) {\n      id\n      apiKeys(first: $first, after: $after, search: $search, status: $status) {\n        totalCount\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n        edges {\n          node {\n            ...ApiKeyRowFields\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query ApiKeys($projectId: ID!, $first: Int!, $after: String, $search: String, $status: ApiKeyStatus) {\n    project(id: $projectId) {\n      id\n      apiKeys(first: $first, after: $after, search: $search, status: $status) {\n        totalCount\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n        edges {\n          node {\n            ...ApiKeyRowFields\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ApiKeyRowFields on ApiKey {\n    id\n    note\n    start\n    status\n    createdAt\n    expiresAt\n    lastUsedAt\n    rotationDue\n    expiresSoon\n    usage24h {\n      requests\n      errors\n      lastUsedAt\n    }\n  }\n"): (typeof documents)["\n  fragment ApiKeyRowFields on ApiKey {\n    id\n    note\n    start\n    status\n    createdAt\n    expiresAt\n    lastUsedAt\n    rotationDue\n    expiresSoon\n    usage24h {\n      requests\n      errors\n      lastUsedAt\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateApiKey($input: CreateApiKeyInput!) {\n    createApiKey(input: $input) {\n      secret\n      apiKey {\n        ...ApiKeyRowFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation CreateApiKey($input: CreateApiKeyInput!) {\n    createApiKey(input: $input) {\n      secret\n      apiKey {\n        ...ApiKeyRowFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteApiKey($input: DeleteApiKeyInput!) {\n    deleteApiKey(input: $input) {\n      deletedApiKeyId\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation DeleteApiKey($input: DeleteApiKeyInput!) {\n    deleteApiKey(input: $input) {\n      deletedApiKeyId\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateApiKeyNote($input: UpdateApiKeyNoteInput!) {\n    updateApiKeyNote(input: $input) {\n      apiKey {\n        ...ApiKeyRowFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation UpdateApiKeyNote($input: UpdateApiKeyNoteInput!) {\n    updateApiKeyNote(input: $input) {\n      apiKey {\n        ...ApiKeyRowFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation LogIn($input: LogInInput!) {\n    logIn(input: $input) {\n      accessToken\n      accessTokenExpiresAt\n      user {\n        id\n        email\n        name\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation LogIn($input: LogInInput!) {\n    logIn(input: $input) {\n      accessToken\n      accessTokenExpiresAt\n      user {\n        id\n        email\n        name\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      accessToken\n      accessTokenExpiresAt\n      user {\n        id\n        email\n        name\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      accessToken\n      accessTokenExpiresAt\n      user {\n        id\n        email\n        name\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query LlmApiKeys($projectId: ID!) {\n    project(id: $projectId) {\n      id\n      llmApiKeys {\n        ...LlmApiKeyFields\n      }\n    }\n  }\n"): (typeof documents)["\n  query LlmApiKeys($projectId: ID!) {\n    project(id: $projectId) {\n      id\n      llmApiKeys {\n        ...LlmApiKeyFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment LlmApiKeyFields on LlmApiKey {\n    id\n    provider\n    secretHint\n    customModels\n    withDefaultModels\n    createdAt\n    updatedAt\n    models {\n      id\n      source\n    }\n  }\n"): (typeof documents)["\n  fragment LlmApiKeyFields on LlmApiKey {\n    id\n    provider\n    secretHint\n    customModels\n    withDefaultModels\n    createdAt\n    updatedAt\n    models {\n      id\n      source\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation AddLlmApiKey($input: AddLlmApiKeyInput!) {\n    addLlmApiKey(input: $input) {\n      llmApiKey {\n        ...LlmApiKeyFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation AddLlmApiKey($input: AddLlmApiKeyInput!) {\n    addLlmApiKey(input: $input) {\n      llmApiKey {\n        ...LlmApiKeyFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteLlmApiKey($input: DeleteLlmApiKeyInput!) {\n    deleteLlmApiKey(input: $input) {\n      deletedLlmApiKeyId\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation DeleteLlmApiKey($input: DeleteLlmApiKeyInput!) {\n    deleteLlmApiKey(input: $input) {\n      deletedLlmApiKeyId\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateLlmApiKey($input: UpdateLlmApiKeyInput!) {\n    updateLlmApiKey(input: $input) {\n      llmApiKey {\n        ...LlmApiKeyFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation UpdateLlmApiKey($input: UpdateLlmApiKeyInput!) {\n    updateLlmApiKey(input: $input) {\n      llmApiKey {\n        ...LlmApiKeyFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ProjectHeaderFields on Project {\n    id\n    name\n    viewerRole\n    viewerCan {\n      manageApiKeys\n      manageLlmApiKeys\n      readLlmApiKeys\n    }\n  }\n"): (typeof documents)["\n  fragment ProjectHeaderFields on Project {\n    id\n    name\n    viewerRole\n    viewerCan {\n      manageApiKeys\n      manageLlmApiKeys\n      readLlmApiKeys\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ProjectHeader($id: ID!) {\n    project(id: $id) {\n      ...ProjectHeaderFields\n    }\n  }\n"): (typeof documents)["\n  query ProjectHeader($id: ID!) {\n    project(id: $id) {\n      ...ProjectHeaderFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query MyProjects {\n    projects(first: 100) {\n      totalCount\n      edges {\n        node {\n          id\n          name\n          viewerRole\n          createdAt\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query MyProjects {\n    projects(first: 100) {\n      totalCount\n      edges {\n        node {\n          id\n          name\n          viewerRole\n          createdAt\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateProject($input: CreateProjectInput!) {\n    createProject(input: $input) {\n      project {\n        id\n        name\n        viewerRole\n        createdAt\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation CreateProject($input: CreateProjectInput!) {\n    createProject(input: $input) {\n      project {\n        id\n        name\n        viewerRole\n        createdAt\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;