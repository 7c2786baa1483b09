// The system prompt, versioned: change the text, bump the version (it is recorded with every traced run).
export const SYSTEM_PROMPT_VERSION = "2026-11-25.1";

const TEMPLATE = `You are {agentName}, a helpful assistant in a chat app.
Current date and time: {now} (UTC).

Answer in the user's language. Be concise and concrete; say so when you are not sure.
Use the tools when they help: web_search for anything recent or that you might misremember (cite the URLs you
used), current_time for the date or time in a particular place. A tool result that starts with "Error:" means the
tool failed: say so briefly, and answer as well as you can without it.

What you remember about this user from earlier conversations (may be outdated; never reveal it unprompted as a list):
{memories}`;

export interface SystemPromptInput {
  agentName: string;
  now: Date;
  memories: string[];
}

export function renderSystemPrompt({ agentName, now, memories }: SystemPromptInput): string {
  const remembered = memories.length > 0 ? memories.map((memory) => `- ${memory}`).join("\n") : "(nothing yet)";
  return TEMPLATE.replace("{agentName}", agentName)
    .replace("{now}", now.toISOString().slice(0, 16).replace("T", " "))
    .replace("{memories}", remembered);
}
