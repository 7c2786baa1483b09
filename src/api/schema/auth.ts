import { builder } from "./builder.ts";
import { User } from "./user.ts";

interface AuthPayloadShape {
  token: string;
  expiresAt: Date;
  user: { id: string };
}

const AuthPayload = builder.objectRef<AuthPayloadShape>("AuthPayload").implement({
  description: "Send `token` as `Authorization: Bearer <token>` (HTTP) or `connectionParams.authorization` (graphql-ws).",
  fields: (t) => ({
    token: t.exposeString("token"),
    expiresAt: t.expose("expiresAt", { type: "DateTime" }),
    user: t.prismaField({
      type: User,
      resolve: (query, payload, _args, context) =>
        context.prisma.user.findUniqueOrThrow({ ...query, where: { id: payload.user.id } }),
    }),
  }),
});


const RegisterInput = builder.inputType("RegisterInput", {
  fields: (t) => ({
    email: t.string({ required: true }),
    password: t.string({
      required: true,
      description: "8–128 characters with an upper-case and a lower-case letter, a digit and a symbol.",
    }),
  }),
});

const LoginInput = builder.inputType("LoginInput", {
  fields: (t) => ({ email: t.string({ required: true }), password: t.string({ required: true }) }),
});

builder.mutationField("register", (t) =>
  t.field({
    type: AuthPayload,
    skipTypeScopes: true,
    args: { input: t.arg({ type: RegisterInput, required: true }) },
    resolve: (_root, { input }, context) => context.services.accounts.register(input),
  }),
);

builder.mutationField("login", (t) =>
  t.field({
    type: AuthPayload,
    skipTypeScopes: true,
    args: { input: t.arg({ type: LoginInput, required: true }) },
    resolve: (_root, { input }, context) => context.services.accounts.login(input),
  }),
);

