// The deployment and observability files, checked against the real thing: a live app is exercised (a reply with a
// retry, a fallback and a tool call through the fake OpenAI server, a rate-limit refusal, a refused subscription),
// then every metric named by a Grafana panel or an alert rule must be in its /metrics scrape. With promtool
// installed (Debian: apt-get install prometheus), the rules, their unit tests, the Prometheus config and every
// dashboard query also go through promtool. There is no Docker engine here: compose and Dockerfile are parsed.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  createSession,
  firstSubscriptionResult,
  graphql,
  MESSAGE_STREAM,
  sendAndCollectReply,
  signUp,
  wsClient,
} from "./support/clients.ts";
import { startFakeOpenAI, type FakeOpenAI } from "./support/fake-openai.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

const ROOT = join(import.meta.dirname, "..");
const OBSERVABILITY = join(ROOT, "observability");
const DASHBOARDS = join(OBSERVABILITY, "grafana/dashboards");
const METRICS_TOKEN = "scrape-token-0123456789abcdef";
/** Series Prometheus makes itself, not the app. */
const PROMETHEUS_OWN = new Set([
  "up",
  "scrape_duration_seconds",
  "scrape_samples_scraped",
  "ALERTS",
  "ALERTS_FOR_STATE",
]);

const read = (path: string) => readFileSync(path, "utf8");
const yamlFile = (path: string) => parseYaml(read(path), { merge: true }) as any;

// --- PromQL: the metric names an expression reads --------------------------------------------------------------------

const PROMQL_WORDS = new Set([
  "and",
  "or",
  "unless",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "offset",
  "inf",
  "nan",
]);

/** Names of the series an expression selects (functions, keywords, labels, durations and strings removed). */
function metricNames(expr: string): string[] {
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\$__\w+|\$\{[^}]*\}|\$\w+/g, "5m") // Grafana variables
    .replace(/\{[^}]*\}/g, " ") // label matchers
    .replace(/\[[^\]]*\]/g, " ") // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set<string>();
  for (const match of text.matchAll(/(?<![\w.:])[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = text.slice(match.index! + match[0].length).trimStart();
    if (rest.startsWith("(") || PROMQL_WORDS.has(match[0])) continue; // a function or an aggregation
    names.add(match[0]);
  }
  return [...names];
}

interface Query {
  where: string;
  expr: string;
}

function dashboardQueries(): Query[] {
  const queries: Query[] = [];
  for (const file of readdirSync(DASHBOARDS).filter((name) => name.endsWith(".json"))) {
    const dashboard = JSON.parse(read(join(DASHBOARDS, file)));
    const panels = (dashboard.panels as any[]).flatMap((panel) => [panel, ...(panel.panels ?? [])]);
    for (const panel of panels) {
      for (const target of panel.targets ?? [])
        queries.push({ where: `${file} › ${panel.title} › ${target.refId}`, expr: target.expr });
    }
    for (const variable of dashboard.templating?.list ?? []) {
      const query = typeof variable.query === "string" ? variable.query : variable.query?.query;
      if (query)
        queries.push({
          where: `${file} › variable ${variable.name}`,
          expr: query.replace(/^label_values\((.*),\s*\w+\)$/, "$1"),
        });
    }
  }
  return queries;
}

function ruleQueries(): Query[] {
  return (yamlFile(join(OBSERVABILITY, "alerts.yml")).groups as any[]).flatMap((group) =>
    (group.rules as any[]).map((rule) => ({
      where: `alerts.yml › ${rule.alert ?? rule.record}`,
      expr: String(rule.expr),
    })),
  );
}

/** Families declared in a scrape (`# TYPE name kind`) and the sample names present. */
function parseScrape(text: string) {
  const families = new Map<string, string>();
  const samples = new Set<string>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) families.set(type[1]!, type[2]!);
    else if (line && !line.startsWith("#")) samples.add(/^[^{\s]+/.exec(line)![0]);
  }
  const exported = (name: string) => {
    if (families.has(name)) return true;
    const base = name.replace(/_(bucket|sum|count)$/, "");
    return (
      base !== name &&
      ["histogram", "summary"].includes(families.get(base) ?? "") &&
      !(name.endsWith("_bucket") && families.get(base) === "summary")
    );
  };
  return { families, samples, exported };
}

// --- A live app, exercised --------------------------------------------------------------------------------------------

let fake: FakeOpenAI;
let app: TestApp;
let scrape: string;
let eventsReceived = 0;

beforeAll(async () => {
  fake = await startFakeOpenAI();
  app = await startTestApp({
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: fake.baseUrl,
    LLM_MODEL: "primary-model",
    LLM_FALLBACK_MODELS: "fallback-model",
    LLM_MAX_RETRIES: "1",
    RATE_LIMIT_SEND_PER_MIN: "2",
    METRICS_TOKEN,
  });

  const user = await signUp(app.graphqlUrl);
  const sessionId = await createSession(app.graphqlUrl, user.token);
  const client = wsClient(app.wsUrl, user.token);
  // The primary fails twice (first attempt and its one retry), the fallback asks for a tool, then answers.
  fake.plan("primary-model", [
    { kind: "status", status: 503 },
    { kind: "status", status: 503 },
  ]);
  fake.plan("fallback-model", [{ kind: "toolCall", calls: [{ name: "current_time", args: {} }] }]);
  for (const content of ["What time is it?", "Thanks!"]) {
    const { events } = await sendAndCollectReply(app, user, { sessionId, content }, { client });
    expect(events.at(-1)!.__typename).toBe("MessageCompleted");
    eventsReceived += events.length;
  }
  // Unnamed on purpose: the request counter labels it "Anonymous".
  const unnamedSend = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { id } } }`;
  const refused = await graphql(
    app.graphqlUrl,
    unnamedSend,
    { input: { sessionId, content: "Third in a minute" } },
    user.token,
  );
  expect(refused.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", bucket: "send" });
  // A subscription refused at subscribe (someone else's session): a stream error.
  const stranger = await signUp(app.graphqlUrl);
  const strangerClient = wsClient(app.wsUrl, stranger.token);
  const foreign = await firstSubscriptionResult(strangerClient, { query: MESSAGE_STREAM, variables: { sessionId } });
  expect(foreign.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  await strangerClient.dispose();
  await client.dispose();
  await app.memories.idle?.();

  // Scraped once the server has seen both sockets close.
  for (const deadline = Date.now() + 5_000; ; await new Promise((resolve) => setTimeout(resolve, 50))) {
    const response = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(response.status).toBe(200);
    scrape = await response.text();
    if (/^graphql_ws_connections 0$/m.test(scrape) || Date.now() > deadline) break;
  }
}, 120_000);

afterAll(async () => {
  await app?.cleanup();
  await fake?.close();
});

describe("/metrics of a live app", () => {
  it("answers only the bearer token when METRICS_TOKEN is set", async () => {
    for (const authorization of [undefined, "Bearer wrong-token", METRICS_TOKEN, `Basic ${METRICS_TOKEN}`]) {
      const response = await fetch(`${app.url}/metrics`, { headers: authorization ? { authorization } : {} });
      expect(response.status, String(authorization)).toBe(401);
      expect(await response.text()).not.toContain("graphql_ws_connections");
    }
    // The bearer token itself is answered, with the scrape.
    const response = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/^graphql_ws_connections \d+$/m);
  });

  it("counts what was exercised, with bounded labels", () => {
    if (process.env.PRINT_SCRAPE) console.info(scrape);
    const sampleLines = scrape.split("\n").filter((line) => line && !line.startsWith("#"));
    const value = (selector: RegExp) =>
      sampleLines.filter((line) => selector.test(line)).reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
    expect(value(/^agent_model_call_duration_seconds_count\{model="primary-model",outcome="transient"\}/)).toBe(2);
    expect(value(/^agent_model_call_duration_seconds_count\{model="fallback-model",outcome="success"\}/)).toBe(1);
    expect(value(/^agent_model_retries_total\{model="primary-model"\}/)).toBe(1);
    expect(value(/^agent_model_fallbacks_total\{from="primary-model",to="fallback-model"\}/)).toBe(1);
    expect(value(/^agent_model_breaker_state\{model="(primary|fallback)-model"\}/)).toBe(0);
    expect(value(/^agent_model_tokens_total\{model="[^"]+",direction="input"\}/)).toBeGreaterThan(0);
    expect(value(/^agent_model_tokens_total\{model="[^"]+",direction="output"\}/)).toBeGreaterThan(0);
    expect(value(/^agent_tool_calls_total\{tool="current_time",outcome="ok"\}/)).toBe(1);
    expect(value(/^agent_replies_total\{status="COMPLETE"\}/)).toBe(2);
    expect(value(/^agent_memory_recall_duration_seconds_count /)).toBe(2);
    expect(value(/^rate_limit_refusals_total\{bucket="send"\}/)).toBe(1);
    expect(value(/^graphql_envelop_error_result\{.*code="RATE_LIMITED"/)).toBe(1);
    // Every event a client received was counted (a replay merges deltas, so there are a few per reply).
    expect(eventsReceived).toBeGreaterThanOrEqual(4);
    expect(value(/^graphql_stream_events_total\{transport="ws"\}/)).toBeGreaterThanOrEqual(eventsReceived);
    expect(value(/^graphql_stream_errors_total\{transport="ws",code="NOT_FOUND"\}/)).toBe(1);
    expect(value(/^graphql_active_subscriptions\{transport="ws"\}/)).toBe(0);
    expect(value(/^graphql_ws_connections /)).toBe(0);
    expect(value(/^db_query_duration_seconds_count\{statement="select"\}/)).toBeGreaterThan(0);
    expect(value(/^app_dependency_up\{dependency="database"\}/)).toBe(1);
    // Requests are labelled by operation name: the two sends of typed documents, the unnamed third, two sign-ups.
    expect(value(/^graphql_envelop_request\{operationType="mutation",operationName="SendMessage"\}/)).toBe(2);
    expect(value(/^graphql_envelop_request\{operationType="mutation",operationName="Anonymous"\}/)).toBe(1);
    expect(value(/^graphql_envelop_request\{operationType="mutation",operationName="Register"\}/)).toBe(2);
    console.info(
      `/metrics: ${scrape.length} bytes, ${sampleLines.length} samples, ${parseScrape(scrape).families.size} families`,
    );
  });

  it("exports every metric that a dashboard panel or an alert rule reads", () => {
    const { exported } = parseScrape(scrape);
    const queries = [...dashboardQueries(), ...ruleQueries()];
    expect(queries.length).toBeGreaterThan(50);
    const missing = queries.flatMap(({ where, expr }) =>
      metricNames(expr)
        .filter((name) => !PROMETHEUS_OWN.has(name) && !exported(name))
        .map((name) => `${where}: ${name}`),
    );
    expect(missing).toEqual([]);
    // And each of them names at least one metric of the app (a typo'd expression would name none).
    for (const { where, expr } of queries) {
      expect(
        metricNames(expr).filter((name) => !PROMETHEUS_OWN.has(name)).length + (expr.includes("up{") ? 1 : 0),
        where,
      ).toBeGreaterThan(0);
    }
  });

  it("finds metric names in PromQL the way Prometheus reads it", () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le, model) (rate(agent_model_call_duration_seconds_bucket{outcome!="x"}[$__rate_interval])))',
      ),
    ).toEqual(["agent_model_call_duration_seconds_bucket"]);
    expect(
      metricNames(
        'sum(rate(a_total{code="b c"}[5m])) / sum(rate(b_total[5m])) > 0.05 and on (x) c == 1e-9 or vector(0)',
      ),
    ).toEqual(["a_total", "b_total", "c"]);
    expect(metricNames("max by (model) (max_over_time(agent_model_breaker_state[2m])) == 2")).toEqual([
      "agent_model_breaker_state",
    ]);
  });
});

describe("Grafana files", () => {
  const datasources = yamlFile(join(OBSERVABILITY, "grafana/provisioning/datasources/prometheus.yml"));
  const providers = yamlFile(join(OBSERVABILITY, "grafana/provisioning/dashboards/dashboards.yml"));

  it("provision a Prometheus datasource and a file provider for the dashboards' directory", () => {
    expect(datasources.datasources).toEqual([
      expect.objectContaining({ uid: "prometheus", type: "prometheus", url: "http://prometheus:9090" }),
    ]);
    expect(providers.providers).toEqual([
      expect.objectContaining({
        type: "file",
        options: expect.objectContaining({ path: "/var/lib/grafana/dashboards" }),
      }),
    ]);
  });

  it.each(readdirSync(DASHBOARDS).filter((name) => name.endsWith(".json")))(
    "%s is a dashboard model Grafana's file provider loads",
    (file) => {
      const dashboard = JSON.parse(read(join(DASHBOARDS, file)));
      // The model itself, not the HTTP API's `{ "dashboard": … }` envelope (which the file provider does not unwrap).
      expect(dashboard.dashboard).toBeUndefined();
      expect(dashboard).toMatchObject({
        uid: expect.stringMatching(/^[a-z0-9-]{1,40}$/),
        title: expect.any(String),
        schemaVersion: expect.any(Number),
      });
      const panels = (dashboard.panels as any[]).flatMap((panel) => [panel, ...(panel.panels ?? [])]);
      expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
      for (const panel of panels.filter((p) => p.type !== "row")) {
        expect(panel.datasource, panel.title).toEqual({ type: "prometheus", uid: "prometheus" });
        expect(panel.gridPos.w * panel.gridPos.h, panel.title).toBeGreaterThan(0);
        expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      }
    },
  );

  it("gives every dashboard its own uid", () => {
    const uids = readdirSync(DASHBOARDS).map((file) => JSON.parse(read(join(DASHBOARDS, file))).uid);
    expect(new Set(uids).size).toBe(uids.length);
  });
});

describe("docker-compose.yml", () => {
  const compose = yamlFile(join(ROOT, "docker-compose.yml"));
  const services = compose.services as Record<string, any>;
  const text = read(join(ROOT, "docker-compose.yml"));

  it("pins every image to a version tag", () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build) continue; // the app, built from the Dockerfile
      expect(service.image, name).toMatch(/^[\w./-]+:[\w.-]+$/);
      expect(service.image, name).not.toMatch(/:(latest|\d+|pg\d+)$/); // a major-only tag moves
    }
    expect(services.db.image).toMatch(/^pgvector\/pgvector:[\d.]+-pg16$/);
  });

  it("has the services the issue asks for, Langfuse only under its profile", () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(["app", "db", "redis", "prometheus", "grafana"]));
    for (const name of ["app", "db", "redis", "prometheus", "grafana"])
      expect(services[name].profiles, name).toBeUndefined();
    for (const name of Object.keys(services).filter((n) => /langfuse|clickhouse|minio/.test(n))) {
      expect(services[name].profiles, name).toEqual(["langfuse"]);
    }
  });

  // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose's ${VAR:?} syntax, named in the title
  it("demands each required secret with ${VAR:?} and bakes none in", () => {
    for (const variable of [
      "JWT_SECRET",
      "OPENAI_API_KEY",
      "POSTGRES_PASSWORD",
      "METRICS_TOKEN",
      "GRAFANA_ADMIN_PASSWORD",
    ]) {
      expect(text, variable).toMatch(new RegExp(`\\$\\{${variable}:\\?[^}]+\\}`));
    }
    expect(services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD:\?/);
    // Profile secrets cannot use :? (Compose interpolates every service before applying profiles); a check refuses
    // to start the profile without them.
    const check = services["langfuse-secrets"];
    for (const variable of Object.keys(check.environment)) expect(check.command[0]).toContain(variable);
    const secretSettings: string[] = [];
    for (const [name, service] of Object.entries(services)) {
      for (const [key, value] of Object.entries<string>(service.environment ?? {})) {
        if (!/(PASSWORD|SECRET|TOKEN|SALT|_KEY)$/.test(key)) continue;
        secretSettings.push(`${name}.${key}`);
        expect(String(value), `${name}.${key}`).toMatch(/\$\{[A-Z_]+(:\?[^}]*|:-)\}/);
      }
    }
    // The name filter above caught the secrets it is there for (if it caught none, the loop would check nothing).
    expect(secretSettings).toEqual(
      expect.arrayContaining([
        "app.JWT_SECRET",
        "app.OPENAI_API_KEY",
        "db.POSTGRES_PASSWORD",
        "langfuse-web.NEXTAUTH_SECRET",
      ]),
    );
  });

  it("publishes no database port, and the rest on loopback except the API", () => {
    for (const name of ["db", "redis", "langfuse-db", "clickhouse"]) expect(services[name].ports, name).toBeUndefined();
    const published: string[] = [];
    for (const [name, service] of Object.entries(services)) {
      if (name === "app") continue;
      for (const port of service.ports ?? []) {
        published.push(name);
        expect(String(port), name).toMatch(/^127\.0\.0\.1:/);
      }
    }
    expect(published).toEqual(expect.arrayContaining(["prometheus", "grafana"]));
  });

  it("starts the app after healthy dependencies, gives it longer than its grace period to stop, and mounts existing files", () => {
    expect(services.app.depends_on).toMatchObject({
      db: { condition: "service_healthy" },
      redis: { condition: "service_healthy" },
    });
    expect(Number.parseInt(services.app.stop_grace_period, 10) * 1000).toBeGreaterThan(10_000 + 5_000);
    const mounted: string[] = [];
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = String(volume).split(":")[0]!;
        if (!source.startsWith("./")) continue; // a named volume
        mounted.push(source);
        expect(existsSync(join(ROOT, source)), `${name}: ${source}`).toBe(true);
      }
    }
    // The files the guard above is for were found (if it found none, the loop would check nothing).
    expect(mounted).toEqual(
      expect.arrayContaining(["./observability/prometheus.yml", "./observability/grafana/dashboards"]),
    );
    expect(compose.secrets.metrics_token).toEqual({ environment: "METRICS_TOKEN" });
    expect(services.prometheus.secrets).toContain("metrics_token");
    const prometheus = yamlFile(join(OBSERVABILITY, "prometheus.yml"));
    expect(prometheus.scrape_configs[0].authorization.credentials_file).toBe("/run/secrets/metrics_token");
  });
});

describe("Dockerfile and .dockerignore", () => {
  const dockerfile = read(join(ROOT, "Dockerfile"));
  const runtime = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));

  it("runs as a non-root user with production dependencies only, a node health check and no secrets", () => {
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/npm ci --omit=dev/);
    expect(runtime).toMatch(/^HEALTHCHECK [^\n]*\\\n\s*CMD \["node", "-e", [^\n]*\/health/m);
    const instructions = runtime
      .split("\n")
      .filter((line) => !line.startsWith("#"))
      .join("\n");
    expect(instructions).not.toMatch(/curl|wget/); // slim images have neither
    expect(dockerfile).not.toMatch(/^(ENV|ARG)\s+.*(SECRET|PASSWORD|TOKEN|API_KEY)/im);
    expect(dockerfile).not.toMatch(/COPY\s+.*\.env/);
    // prisma generate runs in the build stage (npm ci's postinstall), and tsc compiles the client into dist/.
    expect(dockerfile).toMatch(/PRISMA_SCHEMA_ENGINE_BINARY=\/bin\/false/);
  });

  it("keeps .env files, data and node_modules out of the build context", () => {
    const ignore = read(join(ROOT, ".dockerignore"))
      .split("\n")
      .map((line) => line.trim());
    expect(ignore[ignore.findIndex((line) => line && !line.startsWith("#"))]).toBe("*"); // an allow-list
    expect(ignore.filter((line) => line.startsWith("!") && /env|data|node_modules/.test(line))).toEqual([]);
  });
});

// --- promtool, when installed ---------------------------------------------------------------------------------------

const promtool =
  process.env.PROMTOOL ?? ["/usr/bin/promtool", "/usr/local/bin/promtool"].find((path) => existsSync(path));

describe.skipIf(!promtool)("promtool", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "promtool-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const run = (...args: string[]) =>
    execFileSync(promtool!, args, { cwd: OBSERVABILITY, encoding: "utf8", stdio: "pipe" });

  it("accepts the alert rules and passes their unit tests", () => {
    expect(run("check", "rules", "alerts.yml")).toMatch(/SUCCESS: \d+ rules found/);
    expect(run("test", "rules", "alerts.test.yml")).toMatch(/SUCCESS/);
  });

  it("accepts the Prometheus configuration (with the secret file compose would mount)", async () => {
    const token = join(dir, "metrics_token");
    await writeFile(token, METRICS_TOKEN);
    const config = read(join(OBSERVABILITY, "prometheus.yml")).replace("/run/secrets/metrics_token", token);
    await writeFile(join(dir, "prometheus.yml"), config);
    await writeFile(join(dir, "alerts.yml"), read(join(OBSERVABILITY, "alerts.yml")));
    expect(execFileSync(promtool!, ["check", "config", join(dir, "prometheus.yml")], { encoding: "utf8" })).toMatch(
      /SUCCESS/,
    );
  });

  it("parses every dashboard query", async () => {
    // Each query becomes a recording rule: `check rules` then parses it as Prometheus would.
    const rules = dashboardQueries().map(({ expr }, index) => ({
      record: `dashboard:query_${index}`,
      expr: expr.replaceAll("$__rate_interval", "5m").replaceAll("$__interval", "1m"),
    }));
    const file = join(dir, "dashboards.rules.yml");
    await writeFile(file, JSON.stringify({ groups: [{ name: "dashboards", rules }] }));
    expect(execFileSync(promtool!, ["check", "rules", file], { encoding: "utf8" })).toMatch(
      `SUCCESS: ${rules.length} rules found`,
    );
  });
});
