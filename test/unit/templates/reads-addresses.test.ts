import { describe, expect, it } from 'vitest';
import type { WorkflowRecord } from '../../../src/shared/model.ts';
import { TemplateCache } from '../../../src/templates/render.ts';

// A delivery opens (decrypts) a subscriber's email and phone for the template scope only when
// the workflow may read them: this is the decision, which must never answer false for a
// workflow that can reach an address.
const workflow = (template: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  ({
    tenantId: 't',
    key: 'w',
    version: 1,
    definition: { channels: [{ channel: 'email', template }], ...extra },
  }) as unknown as WorkflowRecord;

const reads = (template: Record<string, unknown>, extra?: Record<string, unknown>) =>
  new TemplateCache().compiled(workflow(template, extra)).readsAddresses;

describe('CompiledWorkflow.readsAddresses', () => {
  it('is false for templates that read only other subscriber fields, even on an email or sms step', () => {
    expect(
      reads({ subject: 'Hi {{ subscriber.firstName }}', body: '{{ data.code }} {{ subscriber.locale }}' }),
    ).toBe(false);
    expect(reads({ body: 'order {{ data.order }}' })).toBe(false);
  });

  it('is true when a template, a condition, a variant or a message names an address or reads the subscriber whole', () => {
    for (const template of [
      { body: '{{ subscriber.email }}' },
      { body: '{{ subscriber.phone | upcase }}' },
      { body: "{{ subscriber['em' | append: 'ail'] }}" },
      { body: '{{ subscriber[data.field] }}' },
      { body: '{{ subscriber | json }}' },
      { body: '{% for pair in subscriber %}{{ pair }}{% endfor %}' },
      { body: '{% assign s = subscriber %}{{ s.firstName }}' },
    ])
      expect(reads(template), template.body).toBe(true);
    expect(
      reads(
        { body: 'x' },
        { channels: [{ channel: 'sms', if: 'subscriber.phone', template: { body: 'x' } }] },
      ),
    ).toBe(true);
  });
});
