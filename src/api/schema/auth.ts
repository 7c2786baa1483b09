import { refuseApiKey } from "./api-key.ts";
import { builder } from "./builder.ts";
import { User } from "./user.ts";

interface AuthPayloadShape {
  token: string;
  expiresAt: Date;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
  userId: string;
}

const AuthPayload = builder.objectRef<AuthPayloadShape>("AuthPayload").implement({
  description:
    "Credentials of one login (a device or browser). Send `token` as `Authorization: Bearer <token>` (HTTP, SSE) " +
    "or `connectionParams.authorization` (graphql-ws); before it expires, trade `refreshToken` for new credentials.",
  fields: (t) => ({
    token: t.exposeString("token", { description: "The access token (JWT); short-lived." }),
    expiresAt: t.expose("expiresAt", { type: "DateTime", description: "When `token` stops working." }),
    refreshToken: t.exposeString("refreshToken", {
      description:
        "Single use: `refreshToken` returns a new one. Presenting a used one again signs this login out everywhere " +
        "it is used (it was copied). Keep it out of URLs, logs and web storage shared with third-party scripts.",
    }),
    refreshTokenExpiresAt: t.expose("refreshTokenExpiresAt", { type: "DateTime" }),
    user: t.prismaField({
      type: User,
      grantScopes: ["newCredentials"],
      resolve: (query, payload, _args, context) =>
        context.prisma.user.findUniqueOrThrow({ ...query, where: { id: payload.userId } }),
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

const RefreshTokenInput = builder.inputType("RefreshTokenInput", {
  fields: (t) => ({ refreshToken: t.string({ required: true }) }),
});

const LogoutInput = builder.inputType("LogoutInput", {
  fields: (t) => ({
    everywhere: t.boolean({
      required: false,
      defaultValue: false,
      description: "Also end every other login of this user (all devices).",
    }),
  }),
});

builder.mutationField("register", (t) =>
  t.field({
    type: AuthPayload,
    skipTypeScopes: true,
    args: { input: t.arg({ type: RegisterInput, required: true }) },
    resolve: (_root, { input }, context) => {
      refuseApiKey(context);
      return context.services.accounts.register(input);
    },
  }),
);

builder.mutationField("login", (t) =>
  t.field({
    type: AuthPayload,
    skipTypeScopes: true,
    args: { input: t.arg({ type: LoginInput, required: true }) },
    resolve: (_root, { input }, context) => {
      refuseApiKey(context);
      return context.services.accounts.login(input, { address: context.clientAddress ?? "unknown" });
    },
  }),
);

builder.mutationField("refreshToken", (t) =>
  t.field({
    type: AuthPayload,
    description:
      "Trades a refresh token for new credentials of the same login; UNAUTHENTICATED when it is spent, FORBIDDEN with an API key.",
    skipTypeScopes: true,
    args: { input: t.arg({ type: RefreshTokenInput, required: true }) },
    resolve: (_root, { input }, context) => {
      refuseApiKey(context);
      return context.services.logins.refresh(input.refreshToken);
    },
  }),
);

const LogoutPayload = builder.objectRef<{ revokedLogins: number }>("LogoutPayload").implement({
  fields: (t) => ({ revokedLogins: t.exposeInt("revokedLogins", { description: "How many logins were ended." }) }),
});

builder.mutationField("logout", (t) =>
  t.withAuth({ loggedIn: true }).field({
    type: LogoutPayload,
    description:
      "Ends this login at once: its access token, its refresh token, and its open subscriptions (graphql-ws " +
      "sockets close with 4401).",
    args: { input: t.arg({ type: LogoutInput, required: false }) },
    resolve: async (_root, { input }, context) => {
      refuseApiKey(context);
      return {
        revokedLogins: await context.services.logins.logout(context.viewer, { everywhere: input?.everywhere ?? false }),
      };
    },
  }),
);
