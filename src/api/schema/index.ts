// Imports every type file (each registers itself on the builder) and builds the schema.
import { builder } from "./builder.ts";
import "./auth.ts";
import "./user.ts";
import "./api-key.ts";
import "./session.ts";
import "./message.ts";
import "./message-feedback.ts";
import "./message-stream.ts";
import "./usage.ts";
import "./memory.ts";

builder.queryType({ authScopes: { loggedIn: true } });
builder.mutationType({ authScopes: { loggedIn: true } });
builder.subscriptionType({ authScopes: { loggedIn: true } });

export const schema = builder.toSchema({ sortSchema: true });
