import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TSchema } from 'typebox';
import { EventBody, InlineSubscriber } from '../ingest/schema.ts';
import {
  DeviceBody,
  IntegrationBody,
  MessageQuery,
  PreferencesBody,
  SettingsBody,
  SubscriberBody,
  TokenBody,
  TopicBody,
  TopicMembersBody,
  WebhookEndpointBody,
  WorkflowBody,
} from './schemas.ts';

/**
 * The request types of the client (client/schemas.d.ts), written from the same TypeBox schemas
 * that validate the requests: a test fails when the committed file no longer matches them.
 * Run `npm run client:types` after changing a request schema.
 */
export const CLIENT_SCHEMAS: Record<string, TSchema> = {
  TriggerInput: EventBody,
  SubscriberFields: SubscriberBody,
  BulkSubscriber: InlineSubscriber,
  DeviceInput: DeviceBody,
  PreferencesPatch: PreferencesBody,
  TopicFields: TopicBody,
  TopicMembers: TopicMembersBody,
  WorkflowDefinition: WorkflowBody,
  IntegrationInput: IntegrationBody,
  WebhookEndpointInput: WebhookEndpointBody,
  SettingsPatch: SettingsBody,
  TokenOptions: TokenBody,
  MessageQuery: MessageQuery,
};

export const CLIENT_SCHEMAS_FILE = fileURLToPath(new URL('../../client/schemas.d.ts', import.meta.url));

type Json = Record<string, unknown>;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function indent(text: string, by: string): string {
  return text.replaceAll('\n', `\n${by}`);
}

/** A JSON schema (as TypeBox builds them) as a TypeScript type. */
function typeOf(schema: Json, depth: number): string {
  const pad = '  '.repeat(depth);
  if ('const' in schema) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  const union = (schema.anyOf ?? schema.oneOf) as Json[] | undefined;
  if (union) return union.map((s) => typeOf(s, depth)).join(' | ');
  if (Array.isArray(schema.allOf)) return (schema.allOf as Json[]).map((s) => typeOf(s, depth)).join(' & ');
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array': {
      const items = typeOf((schema.items as Json) ?? {}, depth);
      return /^[\w"]+$/.test(items) ? `${items}[]` : `Array<${items}>`;
    }
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Json>;
      const required = new Set((schema.required as string[] | undefined) ?? []);
      const patterns = Object.values((schema.patternProperties ?? {}) as Record<string, Json>);
      if (Object.keys(properties).length === 0) {
        const value = patterns[0] ? typeOf(patterns[0], depth) : 'unknown';
        return `Record<string, ${value}>`;
      }
      const lines = Object.entries(properties).map(([name, property]) => {
        const key = IDENTIFIER.test(name) ? name : JSON.stringify(name);
        const doc =
          typeof property.description === 'string' ? `${pad}  /** ${property.description} */\n` : '';
        return `${doc}${pad}  ${key}${required.has(name) ? '' : '?'}: ${typeOf(property, depth + 1)};`;
      });
      return `{\n${lines.join('\n')}\n${pad}}`;
    }
    default:
      return 'unknown';
  }
}

/** The text of client/schemas.d.ts. */
export function renderClientSchemas(): string {
  const parts = Object.entries(CLIENT_SCHEMAS).map(([name, schema]) => {
    const json = JSON.parse(JSON.stringify(schema)) as Json;
    const type = typeOf(json, 0);
    return `export type ${name} = ${indent(type, '')};\n`;
  });
  return `// Generated from the server's TypeBox request schemas by \`npm run client:types\`: do not edit.\n\n${parts.join('\n')}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const text = renderClientSchemas();
  if (process.argv.includes('--check')) {
    if (readFileSync(CLIENT_SCHEMAS_FILE, 'utf8') !== text) {
      console.error('client/schemas.d.ts is stale: run npm run client:types');
      process.exit(1);
    }
  } else {
    writeFileSync(CLIENT_SCHEMAS_FILE, text);
  }
}
