import { describe, expect, it } from 'vitest';
import { trackHtml } from '../../../src/templates/tracked-html.ts';

const click = (target: string) =>
  target.startsWith('https://t.example/') ? null : `https://t.example/c?u=${encodeURIComponent(target)}`;
const tracked = (target: string) => `"${click(target)}"`;
const PIXEL =
  '<img src="https://t.example/o" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0" />';

describe('tracked HTML', () => {
  it.each([
    [
      'double-quoted, entities decoded',
      '<a href="https://a.example/?x=1&amp;y=2">a</a>',
      `<a href=${tracked('https://a.example/?x=1&y=2')}>a</a>`,
    ],
    [
      'single-quoted, upper case',
      "<A CLASS='b' HREF='http://b.example/p'>b</A>",
      `<A CLASS='b' HREF=${tracked('http://b.example/p')}>b</A>`,
    ],
    [
      'unquoted, spaces around =',
      '<a href = https://c.example/>c</a>',
      `<a href = ${tracked('https://c.example/')}>c</a>`,
    ],
    [
      'trimmed and normalised as a browser would',
      '<a href=" https://D.example ">d</a>',
      `<a href=${tracked('https://d.example/')}>d</a>`,
    ],
    [
      'a > inside another attribute',
      '<a title="1 > 0" href="https://e.example/">e</a>',
      `<a title="1 > 0" href=${tracked('https://e.example/')}>e</a>`,
    ],
    [
      'area elements',
      '<area shape=rect href="https://f.example/"/>',
      `<area shape=rect href=${tracked('https://f.example/')}/>`,
    ],
    [
      'the first of duplicate hrefs',
      '<a href="https://g.example/" href="https://h.example/">g</a>',
      `<a href=${tracked('https://g.example/')} href="https://h.example/">g</a>`,
    ],
  ])('rewrites %s', (_, html, expected) => {
    expect(trackHtml(html, { click })).toBe(expected);
  });

  it.each([
    ['mailto:', '<a href="mailto:a@b.example">m</a>'],
    ['tel:', '<a href="tel:+15555550100">t</a>'],
    ['anchors', '<a href="#top">t</a>'],
    ['relative links', '<a href="/path">r</a>'],
    ['javascript:', '<a href="javascript:alert(1)">j</a>'],
    ['links the callback declines', '<a href="https://t.example/v1/unsubscribe/x">u</a>'],
    ['an href without a value', '<a href>n</a>'],
    ['other attributes holding URLs', '<a data-href="https://a.example/">d</a>'],
    [
      'other elements',
      '<abbr href="https://a.example/">x</abbr><a-b href="https://a.example/">y</a-b><link href="https://a.example/s.css">',
    ],
    ['comments', '<!-- <a href="https://a.example/">c</a> -->'],
    [
      'style and script',
      '<style>a[href="https://a.example/"]{}</style><script>"<a href=\'https://a.example/\'>"</script>',
    ],
    ['an unclosed tag', '<a href="https://a.example/"'],
  ])('leaves %s alone', (_, html) => {
    expect(trackHtml(html, { click })).toBe(html);
  });

  it('puts the pixel before the last </body>, or at the end without one; leaves links alone without click', () => {
    const html = '<html><body><a href="https://a.example/">a</a></body></html>';
    expect(trackHtml(html, { pixel: 'https://t.example/o' })).toBe(
      `<html><body><a href="https://a.example/">a</a>${PIXEL}</body></html>`,
    );
    expect(trackHtml('<p>x</p></BODY >', { pixel: 'https://t.example/o' })).toBe(`<p>x</p>${PIXEL}</BODY >`);
    expect(trackHtml('<p>hi</p>', { pixel: 'https://t.example/o' })).toBe(`<p>hi</p>${PIXEL}`);
    expect(trackHtml(html, {})).toBe(html);
  });

  it.each([
    ['unclosed tags', `<a ${'x="'.repeat(20_000)}${'<a href '.repeat(20_000)}`],
    ['unclosed quotes', '<a href="'.repeat(40_000)],
    ['unclosed raw text', `${'<script '.repeat(20_000)}${'<style>'.repeat(20_000)}`],
    ['many bodies and references', `${'</body>'.repeat(20_000)}<a href="${'&#x41;'.repeat(20_000)}">`],
  ])('stays linear on hostile input: %s', (_, hostile) => {
    const started = performance.now();
    trackHtml(hostile, { click, pixel: 'https://t.example/o' });
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
