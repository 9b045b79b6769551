// Small DOM and HTTP helpers shared by the booth and the tracker pages.
//
// The pages run under a strict CSP (script-src 'self', no inline script or style): all the
// data a script needs is in data-* attributes, and every text it shows comes from the
// page's message catalogue element (#parvis-messages), rendered by the server in the
// page's language (ballot/locale_fr.py).

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

/** The page's messages: data-* attributes of #parvis-messages, `{name}` placeholders. */
export class Messages {
  private readonly data: DOMStringMap;
  readonly lang: string;

  constructor(element: HTMLElement) {
    this.data = element.dataset;
    this.lang = document.documentElement.lang || 'fr';
  }

  t(key: string, params: Record<string, string | number> = {}): string {
    const template = this.data[key];
    if (template === undefined) return key; // a missing message shows its key, visibly
    return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
      name in params ? this.format(params[name]!) : whole,
    );
  }

  format(value: string | number): string {
    return typeof value === 'number' ? new Intl.NumberFormat(this.lang).format(value) : value;
  }

  euros(amount: number): string {
    return new Intl.NumberFormat(this.lang, { style: 'currency', currency: 'EUR', maximumFractionDigits: 0 }).format(amount);
  }
}

/** An RFC 9457 problem (or any non-2xx answer) from the server. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly detail: string,
  ) {
    super(`${status} ${slug}: ${detail}`);
  }
}

export interface JsonRequest {
  method?: 'GET' | 'POST';
  body?: unknown;
  /** 'omit' for everything anonymous: the manifest, casting, receipts. */
  credentials: RequestCredentials;
  headers?: Record<string, string>;
}

export async function fetchJson<T>(url: string, request: JsonRequest): Promise<T> {
  const init: RequestInit = {
    method: request.method ?? 'GET',
    credentials: request.credentials,
    mode: 'same-origin',
    cache: 'no-store',
    referrerPolicy: 'no-referrer',
    redirect: 'error',
    headers: { Accept: 'application/json, application/problem+json', ...request.headers },
  };
  if (request.body !== undefined) {
    init.body = JSON.stringify(request.body);
    (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
  }
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, 'network', 'the server could not be reached');
  }
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const problem = (body ?? {}) as { type?: string; detail?: string; title?: string };
    const slug = (problem.type ?? '').split('/').pop() || `http-${response.status}`;
    throw new ApiError(response.status, slug, problem.detail ?? problem.title ?? response.statusText);
  }
  return body as T;
}

/** A reader of `root`'s required `data-*` attributes: throws naming the missing one. */
export function requiredData(root: HTMLElement): (name: string) => string {
  return (name: string): string => {
    const value = root.dataset[name];
    if (!value) throw new Error(`#${root.id} lacks data-${name}`);
    return value;
  };
}

export function show(element: HTMLElement, visible = true): void {
  element.hidden = !visible;
}

/** Replace an element's content with text (never HTML). */
export function setText(element: HTMLElement, text: string): void {
  element.textContent = text;
}

/** The title of a manifest label object in the page language (French first). */
export function label(title: Record<string, string> | undefined, lang: string): string {
  if (!title) return '';
  return title[lang] ?? title.fr ?? Object.values(title)[0] ?? '';
}

/** The script runs: remove the server-rendered "waiting for the script" hint. */
export function scriptStarted(): void {
  document.getElementById('script-pending')?.remove();
}
