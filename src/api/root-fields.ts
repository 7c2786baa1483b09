// The root fields an operation will execute, collected exactly as graphql-js collects them: through fragment
// spreads and inline fragments whose type condition matches the root type, honouring @skip/@include with the
// operation's variables, with one entry per response key (graphql-js merges the selections that share a response
// key into one execution). The rate limits and the query cost both count from this walk, so no document shape
// can be counted one way and executed another.
import {
  getOperationAST,
  getVariableValues,
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from "graphql";
// graphql-js's own collector (used by execute and subscribe). Only CommonJS files are loaded here, as for
// `graphql` itself, so its `instanceof` checks see the same classes as the schema (stack notes Q10.5).
import { collectFields } from "graphql/execution/collectFields.js";

export interface RootField {
  /** The key in `data`: the alias, else the field name. */
  responseKey: string;
  fieldName: string;
  /** Every selection merged into this one execution (same response key, so the same field and arguments). */
  nodes: readonly FieldNode[];
}

export interface OperationRootFields {
  operation: OperationDefinitionNode;
  rootType: GraphQLObjectType;
  /** In execution order; a field graphql-js would skip is not here. */
  fields: RootField[];
}

export interface RootFieldsArgs {
  schema: GraphQLSchema;
  document: DocumentNode;
  operationName?: string | null;
  /** As the client sent them; coerced here the way execution coerces them (defaults included). */
  variableValues?: Record<string, unknown> | null;
}

/**
 * The operation's root fields, or undefined when execution would refuse the operation before running any
 * field: no operation by that name (or several and no name), no root type for it, variables that do not coerce.
 */
export function rootFields({
  schema,
  document,
  operationName,
  variableValues,
}: RootFieldsArgs): OperationRootFields | undefined {
  const operation = getOperationAST(document, operationName);
  const rootType = operation ? schema.getRootType(operation.operation) : undefined;
  if (!operation || !rootType) return undefined;
  const { coerced, errors } = getVariableValues(schema, operation.variableDefinitions ?? [], variableValues ?? {}, {
    maxErrors: 1,
  });
  if (errors) return undefined;
  const fragments: Record<string, FragmentDefinitionNode> = Object.create(null);
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  }
  const fields = collectFields(schema, fragments, coerced, rootType, operation.selectionSet);
  return {
    operation,
    rootType,
    fields: [...fields].map(([responseKey, nodes]) => ({ responseKey, fieldName: nodes[0]!.name.value, nodes })),
  };
}
