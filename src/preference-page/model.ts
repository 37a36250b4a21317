import { CHANNELS, type Channel, MANDATORY_CATEGORIES, type PreferenceChoices } from '../shared/model.ts';
import type { ChannelChoicesPatch, PreferencePatch } from '../store/port.ts';
import type { PageWorkflow } from './workflow-summaries.ts';

/** Channels a subscriber chooses on the page: the webhook channel goes to systems, not people. */
const PERSONAL_CHANNELS = CHANNELS.filter((channel) => channel !== 'webhook');

/** A choice as the page shows it: on unless the subscriber (or a broader choice of theirs) said off. */
export interface Toggle {
  /** The form field's name. */
  name: string;
  on: boolean;
}

export interface CategoryRow {
  category: string;
  /** transactional and security: shown, always on, not editable. */
  locked: boolean;
  cells: (Toggle & { channel: Channel })[];
}

export interface WorkflowRow extends Toggle {
  key: string;
  label: string;
  locked: boolean;
}

/** What the preference page shows, computed from the tenant's workflows and the subscriber's choices. */
export interface PageModel {
  channels: (Toggle & { channel: Channel })[];
  categories: CategoryRow[];
  workflows: WorkflowRow[];
  quietHours: { start: string; end: string } | null;
  timezone: string;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const personal = (channel: string): channel is Channel =>
  (PERSONAL_CHANNELS as readonly string[]).includes(channel);

/**
 * The page for these choices: every channel the tenant's workflows use (or the subscriber chose
 * about), every category with the channels its workflows use, every workflow. A cell is on
 * unless the most specific choice the subscriber made says off (category × channel, then channel)
 * — the order routing decides in (src/policy/plan.ts).
 */
export function pageModel(
  workflows: readonly PageWorkflow[],
  choices: PreferenceChoices,
  timezone: string,
): PageModel {
  const channelsUsed = new Set<Channel>();
  const categoryChannels = new Map<string, Set<Channel>>();
  for (const workflow of workflows) {
    const steps = workflow.definition.channels.map((step) => step.channel).filter(personal);
    for (const channel of steps) channelsUsed.add(channel);
    const category = workflow.definition.category;
    if (category === undefined) continue;
    const set = categoryChannels.get(category) ?? new Set<Channel>();
    for (const channel of steps) set.add(channel);
    categoryChannels.set(category, set);
  }
  for (const channel of Object.keys(choices.channels)) if (personal(channel)) channelsUsed.add(channel);
  for (const [category, cells] of Object.entries(choices.categories)) {
    const set = categoryChannels.get(category) ?? new Set<Channel>();
    for (const channel of Object.keys(cells)) if (personal(channel)) set.add(channel);
    categoryChannels.set(category, set);
  }
  const channelOn = (channel: Channel) => choices.channels[channel] !== false;
  const ordered = (set: Set<Channel>) => PERSONAL_CHANNELS.filter((channel) => set.has(channel));
  return {
    channels: ordered(channelsUsed).map((channel) => ({
      channel,
      name: `channel:${channel}`,
      on: channelOn(channel),
    })),
    categories: [...categoryChannels.keys()].sort(byName).map((category) => {
      const locked = MANDATORY_CATEGORIES.has(category);
      return {
        category,
        locked,
        cells: ordered(categoryChannels.get(category)!).map((channel) => ({
          channel,
          name: `category:${category}:${channel}`,
          on: locked || (choices.categories[category]?.[channel] ?? channelOn(channel)),
        })),
      };
    }),
    workflows: [...workflows]
      .sort((a, b) => byName(a.key, b.key))
      .map((workflow) => {
        const category = workflow.definition.category;
        const locked = category !== undefined && MANDATORY_CATEGORIES.has(category);
        return {
          key: workflow.key,
          label: workflow.definition.name || workflow.key,
          name: `workflow:${workflow.key}`,
          locked,
          on: locked || choices.workflows[workflow.key]?.enabled !== false,
        };
      }),
    quietHours: choices.quietHours ? { start: choices.quietHours.start, end: choices.quietHours.end } : null,
    timezone,
  };
}

/** A problem with a posted form, naming the field as the page labels it. */
export interface FormProblem {
  field: string;
  message: string;
}

const CLOCK_TIME = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;

/**
 * The preference change a posted form asks for: only what differs from what the page shows now,
 * so a box left alone never turns a default (a workflow's `defaultPreferences`) into a choice.
 * Fields the page does not show are ignored, and locked rows can never change.
 */
export function patchFromForm(model: PageModel, form: URLSearchParams): PreferencePatch | FormProblem {
  const channels: NonNullable<PreferencePatch['channels']> = {};
  // Category names and workflow keys are the tenant's (`__proto__` among them): collected in maps
  // and made own properties by Object.fromEntries, never `object[key] = value`, which for
  // `__proto__` sets the prototype and the opt-out is lost (src/store/preference-merge.ts).
  const categories = new Map<string, ChannelChoicesPatch>();
  const workflows = new Map<string, { enabled: boolean }>();
  for (const toggle of model.channels) {
    const on = form.has(toggle.name);
    if (on !== toggle.on) channels[toggle.channel] = on;
  }
  for (const row of model.categories) {
    if (row.locked) continue;
    for (const cell of row.cells) {
      const on = form.has(cell.name);
      if (on === cell.on) continue;
      const choices = categories.get(row.category) ?? {};
      choices[cell.channel] = on;
      categories.set(row.category, choices);
    }
  }
  for (const row of model.workflows) {
    if (row.locked) continue;
    const on = form.has(row.name);
    if (on !== row.on) workflows.set(row.key, { enabled: on });
  }
  const patch: PreferencePatch = {};
  if (Object.keys(channels).length > 0) patch.channels = channels;
  if (categories.size > 0) patch.categories = Object.fromEntries(categories);
  if (workflows.size > 0) patch.workflows = Object.fromEntries(workflows);
  if (form.has('quiet')) {
    const start = form.get('quiet-start') ?? '';
    const end = form.get('quiet-end') ?? '';
    if (!CLOCK_TIME.test(start))
      return { field: 'quiet-start', message: 'Quiet hours need a start time (HH:MM).' };
    if (!CLOCK_TIME.test(end))
      return { field: 'quiet-end', message: 'Quiet hours need an end time (HH:MM).' };
    if (start === end)
      return { field: 'quiet-end', message: 'Quiet hours must end at another time than they start.' };
    if (start !== model.quietHours?.start || end !== model.quietHours?.end) patch.quietHours = { start, end };
  } else if (model.quietHours) {
    patch.quietHours = null;
  }
  return patch;
}
