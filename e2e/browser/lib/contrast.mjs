// WCAG 2.x text contrast of what a page shows: every visible piece of text (text nodes, form
// controls' values and placeholders, SVG text) against the colour actually behind it, composited
// from the backgrounds of its ancestors. Fails below 4.5:1 for normal text and 3:1 for large text
// (at least 24 px, or 18.66 px bold), listing every offender.
import assert from 'node:assert/strict';

/**
 * The texts of the page whose contrast is too low as `offenders`
 * (`[{ text, where, color, background, ratio, needed }]`), the texts that could not be judged (over a
 * background image) as `skipped`, and how many texts were `checked`.
 */
export async function lowContrastTexts(page) {
  return page.evaluate(() => {
    const parse = (css) => {
      const m = css.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    // `top` painted over `bottom` (bottom opaque).
    const over = (top, bottom) => ({
      r: top.r * top.a + bottom.r * (1 - top.a),
      g: top.g * top.a + bottom.g * (1 - top.a),
      b: top.b * top.a + bottom.b * (1 - top.a),
      a: 1,
    });
    const luminance = ({ r, g, b }) => {
      const channel = (v) => {
        const c = v / 255;
        return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    const ratio = (a, b) => {
      const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
      return (hi + 0.05) / (lo + 0.05);
    };
    const hex = ({ r, g, b }) => `#${[r, g, b].map((v) => Math.round(v).toString(16).padStart(2, '0')).join('')}`;
    const where = (el) => {
      const parts = [];
      for (let e = el; e && e !== document.body && parts.length < 4; e = e.parentElement) {
        let part = e.tagName.toLowerCase();
        if (e.id) part += `#${e.id}`;
        else if (typeof e.className === 'string' && e.className.trim()) part += `.${e.className.trim().split(/\s+/).join('.')}`;
        parts.unshift(part);
      }
      return parts.join(' > ');
    };

    /** The opaque colour behind `el`, or null when a background image is in the way. */
    const backgroundOf = (el) => {
      const layers = [];
      for (let e = el; e; e = e.parentElement) {
        const style = getComputedStyle(e);
        if (style.backgroundImage !== 'none') return null;
        const colour = parse(style.backgroundColor);
        if (colour && colour.a > 0) {
          layers.push(colour);
          if (colour.a >= 1) break;
        }
      }
      // The canvas under everything: white unless the root says otherwise (it always does here).
      let result = { r: 255, g: 255, b: 255, a: 1 };
      for (const layer of layers.reverse()) result = over(layer, result);
      return result;
    };
    const opacityOf = (el) => {
      let opacity = 1;
      for (let e = el; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
      return opacity;
    };
    const visible = (el) => {
      if (el.getClientRects().length === 0) return false;
      const style = getComputedStyle(el);
      if (style.visibility !== 'visible') return false;
      const box = el.getBoundingClientRect();
      // `.visually-hidden` (1 px, clipped) is for screen readers only.
      return box.width > 1 && box.height > 1;
    };
    const disabled = (el) => Boolean(el.closest(':disabled, [aria-disabled="true"]'));

    const offenders = [];
    const skipped = [];
    let checked = 0;
    const check = (el, text, colourCss) => {
      checked += 1;
      const background = backgroundOf(el);
      if (!background) {
        skipped.push({ text, where: where(el) });
        return;
      }
      const style = getComputedStyle(el);
      const fg = parse(colourCss);
      if (!fg) return;
      const colour = over({ ...fg, a: fg.a * opacityOf(el) }, background);
      const size = parseFloat(style.fontSize);
      const bold = Number(style.fontWeight) >= 700;
      const large = size >= 24 || (bold && size >= 18.66);
      const needed = large ? 3 : 4.5;
      const measured = ratio(colour, background);
      if (measured < needed) {
        offenders.push({
          text: text.slice(0, 60),
          where: where(el),
          color: hex(colour),
          background: hex(background),
          ratio: Math.round(measured * 100) / 100,
          needed,
        });
      }
    };

    for (const el of document.body.querySelectorAll('*')) {
      if (['SCRIPT', 'STYLE', 'NOSCRIPT', 'OPTION', 'TEMPLATE'].includes(el.tagName)) continue;
      if (!visible(el) || disabled(el)) continue;
      const ownText = [...el.childNodes]
        .filter((n) => n.nodeType === Node.TEXT_NODE)
        .map((n) => n.textContent)
        .join('')
        .trim();
      if (el instanceof SVGElement) {
        if (el.tagName === 'text' && ownText) check(el, ownText, getComputedStyle(el).fill);
        continue;
      }
      if (ownText) check(el, ownText, getComputedStyle(el).color);
      if (el.matches('input:not([type=checkbox]):not([type=radio]):not([type=hidden]), textarea, select')) {
        const value = el.tagName === 'SELECT' ? el.selectedOptions[0]?.textContent ?? '' : el.value;
        if (value.trim()) check(el, value.trim(), getComputedStyle(el).color);
        else if (el.placeholder) check(el, `placeholder: ${el.placeholder}`, getComputedStyle(el, '::placeholder').color);
      }
    }
    return { offenders, skipped, checked };
  });
}

/** Fails, listing them, when any text of the page has too little contrast. */
export async function assertReadable(page, name) {
  const { offenders, skipped, checked } = await lowContrastTexts(page);
  assert.ok(checked > 0, `${name}: no text found to check`);
  assert.deepEqual(skipped, [], `${name}: texts over a background image, not judged`);
  const list = offenders
    .map((o) => `  ${o.ratio}:1 < ${o.needed}:1  ${o.color} on ${o.background}  "${o.text}"  (${o.where})`)
    .join('\n');
  assert.equal(offenders.length, 0, `${name}: ${offenders.length} texts below WCAG contrast\n${list}`);
}
