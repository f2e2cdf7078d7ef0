// A router of a few lines on the History API. Paths are relative to the console's root
// (<prefix>/ui/), fixed when the page loads from its <base>, so the console works under any prefix.
import { useEffect, useState } from 'preact/hooks';

const root = new URL('.', document.baseURI).pathname;

/** The current page path relative to the console's root, without leading or trailing slash. */
export function currentPath(): string {
  const p = location.pathname.startsWith(root) ? location.pathname.slice(root.length) : '';
  return p.replace(/\/+$/, '');
}

const listeners = new Set<() => void>();

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const url = root + to.replace(/^\/+/, '');
  if (url !== location.pathname) history[opts.replace ? 'replaceState' : 'pushState'](null, '', url);
  listeners.forEach((l) => l());
}

export const href = (to: string): string => root + to.replace(/^\/+/, '');

export function usePath(): string {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const update = (): void => setPath(currentPath());
    listeners.add(update);
    addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      removeEventListener('popstate', update);
    };
  }, []);
  return path;
}

/** Left clicks on same-origin links inside the app navigate without a page load. */
export function interceptLinks(): void {
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.('a');
    if (!a || a.target || a.hasAttribute('download') || a.origin !== location.origin || !a.pathname.startsWith(root)) return;
    e.preventDefault();
    navigate(a.pathname.slice(root.length));
    // As a page load would: keyboard and screen-reader users start at the new page's content.
    requestAnimationFrame(() => document.getElementById('main')?.focus());
  });
}
