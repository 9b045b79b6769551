// Ballot rules, checked on the voter's device before anything is signed. A mirror of
// ballot/questions.py check_choices (the server checks again and has the last word):
// docs/board-format.md §3 gives each question type and what a valid answer is.

export type QuestionType = 'single' | 'approval' | 'budget' | 'majority_judgment' | 'ranked';

export interface Option {
  id: string;
  title: Record<string, string>;
  cost?: number;
}

export interface Question {
  id: string;
  type: QuestionType;
  title: Record<string, string>;
  options: Option[];
  min?: number;
  max?: number;
  envelope?: number;
  max_count?: number;
  grades?: string[];
}

export type Choice = string | string[] | Record<string, number>;
export type Choices = Record<string, Choice>;

/** One broken rule, with what a message needs; `question` is null for ballot-wide problems. */
export type Problem =
  | { question: string; code: 'choose_one' }
  | { question: string; code: 'exactly'; k: number }
  | { question: string; code: 'too_few'; min: number }
  | { question: string; code: 'too_many'; max: number }
  | { question: string; code: 'over_budget'; total: number; envelope: number }
  | { question: string; code: 'grade_missing'; options: string[] }
  | { question: string; code: 'rank_too_few'; min: number }
  | { question: string; code: 'rank_too_many'; max: number }
  | { question: string; code: 'invalid'; detail: string }
  | { question: null; code: 'unanswered'; questions: string[] }
  | { question: null; code: 'unknown_question'; questions: string[] };

/** Bounds on the number of options chosen, as ballot/questions.py derives them. */
export function countBounds(q: Question): { min: number; max: number } {
  const n = q.options.length;
  switch (q.type) {
    case 'single':
      return { min: 1, max: 1 };
    case 'budget':
      return { min: 0, max: q.max_count ?? n };
    case 'majority_judgment':
      return { min: n, max: n };
    default:
      return { min: q.min ?? (q.type === 'ranked' ? 1 : 0), max: q.max ?? n };
  }
}

export const costOf = (q: Question, id: string): number => q.options.find((o) => o.id === id)?.cost ?? 0;

/** Sum of the costs of `chosen` (a budget question's options carry integer costs in euros). */
export const totalCost = (q: Question, chosen: readonly string[]): number =>
  chosen.reduce((sum, id) => sum + costOf(q, id), 0);

/** Put option ids in the question's option order (approval and budget answers, §3). */
export function inOptionOrder(q: Question, chosen: readonly string[]): string[] {
  const order = new Map(q.options.map((o, i) => [o.id, i]));
  return [...chosen].sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
}

function optionList(q: Question, value: Choice): string[] | Problem {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    return { question: q.id, code: 'invalid', detail: 'the choice must be a list of option ids' };
  }
  const known = new Set(q.options.map((o) => o.id));
  const unknown = value.find((v) => !known.has(v));
  if (unknown !== undefined) return { question: q.id, code: 'invalid', detail: `unknown option ${unknown}` };
  if (new Set(value).size !== value.length) return { question: q.id, code: 'invalid', detail: 'an option appears twice' };
  return value;
}

/** The problems of one answer (empty when valid). Same rules as check_choice in Python. */
export function checkChoice(q: Question, value: Choice | undefined): Problem[] {
  if (q.type === 'single') {
    return typeof value === 'string' && q.options.some((o) => o.id === value) ? [] : [{ question: q.id, code: 'choose_one' }];
  }
  if (q.type === 'majority_judgment') {
    const grades = q.grades ?? [];
    const given = value && typeof value === 'object' && !Array.isArray(value) ? value : {};
    const missing = q.options
      .filter((o) => {
        const g = given[o.id];
        return !(typeof g === 'number' && Number.isInteger(g) && g >= 0 && g < grades.length);
      })
      .map((o) => o.id);
    const extra = Object.keys(given).filter((k) => !q.options.some((o) => o.id === k));
    if (extra.length) return [{ question: q.id, code: 'invalid', detail: `unknown option ${extra[0]}` }];
    return missing.length ? [{ question: q.id, code: 'grade_missing', options: missing }] : [];
  }
  const chosen = optionList(q, value ?? []);
  if (!Array.isArray(chosen)) return [chosen];
  const { min, max } = countBounds(q);
  if (q.type === 'ranked') {
    if (chosen.length < min) return [{ question: q.id, code: 'rank_too_few', min }];
    if (chosen.length > max) return [{ question: q.id, code: 'rank_too_many', max }];
    return [];
  }
  const problems: Problem[] = [];
  if (inOptionOrder(q, chosen).join('\u0000') !== chosen.join('\u0000')) {
    problems.push({ question: q.id, code: 'invalid', detail: 'options must be listed in the order of the question' });
  }
  if (min === max && q.type === 'approval' && chosen.length !== min) {
    problems.push({ question: q.id, code: 'exactly', k: min });
  } else if (chosen.length < min) {
    problems.push({ question: q.id, code: 'too_few', min });
  } else if (chosen.length > max) {
    problems.push({ question: q.id, code: 'too_many', max });
  }
  if (q.type === 'budget') {
    const total = totalCost(q, chosen);
    const envelope = q.envelope ?? 0;
    if (total > envelope) problems.push({ question: q.id, code: 'over_budget', total, envelope });
  }
  return problems;
}

/** Every problem of a ballot's choices: each question answered once, each answer valid. */
export function checkChoices(questions: readonly Question[], choices: Choices): Problem[] {
  const ids = new Set(questions.map((q) => q.id));
  const extra = Object.keys(choices).filter((k) => !ids.has(k));
  const problems: Problem[] = [];
  if (extra.length) problems.push({ question: null, code: 'unknown_question', questions: extra });
  for (const q of questions) {
    if (!(q.id in choices) && q.type !== 'single' && q.type !== 'majority_judgment') {
      problems.push({ question: null, code: 'unanswered', questions: [q.id] });
      continue;
    }
    problems.push(...checkChoice(q, choices[q.id]));
  }
  return problems;
}
