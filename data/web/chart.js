// SPDX-License-Identifier: GPL-3.0-or-later
//
// The latency chart: recent round trips as bars, their median as a dashed
// line.  Plain SVG built through the DOM (the page's CSP allows no inline
// styles), coloured from style.css through class names.

const SVG = 'http://www.w3.org/2000/svg';
const PAD_TOP = 16;
const PAD_BOTTOM = 4;
const SLOTS = 30;

function el (name, attrs, text) {
  const node = document.createElementNS (SVG, name);
  for (const [k, v] of Object.entries (attrs))
    node.setAttribute (k, String (v));
  if (text !== undefined)
    node.textContent = text;
  return node;
}

// A round ceiling for the y axis so the scale does not jump on every sample.
function niceCeiling (v) {
  if (!(v > 0))
    return 1;
  const p = 10 ** Math.floor (Math.log10 (v));
  for (const m of [1, 2, 2.5, 5, 10])
    if (m * p >= v)
      return m * p;
  return 10 * p;
}

export function formatMs (ms) {
  if (ms === null || ms === undefined || !Number.isFinite (ms))
    return '—';
  if (ms < 10)
    return `${ms.toFixed (2)} ms`;
  if (ms < 100)
    return `${ms.toFixed (1)} ms`;
  return `${Math.round (ms)} ms`;
}

// Drawn in CSS pixels at the element's own size (redrawn on resize) so that
// text is never stretched.
export function drawLatency (svg, samples, med) {
  const W = Math.max (120, Math.round (svg.clientWidth) || 320);
  const H = Math.max (60, Math.round (svg.clientHeight) || 120);
  const title = svg.querySelector ('title');
  const recent = samples.slice (-SLOTS);
  // One stall (a busy machine, a GC pause) must not flatten every other
  // bar: past three medians the scale stops growing and taller bars are
  // drawn clipped, in another colour.
  const highest = Math.max (...recent, med ?? 0);
  const top = niceCeiling (Math.min (highest, Math.max (3 * (med ?? 0), 1)) * 1.1);
  const plotH = H - PAD_TOP - PAD_BOTTOM;
  const slot = W / SLOTS;

  svg.setAttribute ('viewBox', `0 0 ${W} ${H}`);
  const y = (v) => PAD_TOP + plotH - (Math.min (v, top) / top) * plotH;

  for (const child of [...svg.childNodes])
    if (child !== title)
      svg.removeChild (child);

  if (recent.length === 0) {
    title.textContent = 'No round trips measured yet';
    svg.append (el ('line', { class: 'chart-base', x1: 0, x2: W, y1: H - PAD_BOTTOM, y2: H - PAD_BOTTOM }));
    svg.append (el ('text', { class: 'chart-empty', x: W / 2, y: H / 2, 'text-anchor': 'middle' },
                    'Press “Send PING” to measure'));
    return;
  }

  title.textContent = `Round-trip times of the last ${recent.length} pings; median ${formatMs (med)}` +
    (highest > top ? `; the highest, ${formatMs (highest)}, is cut at ${formatMs (top)}` : '');
  svg.append (el ('line', { class: 'chart-grid', x1: 0, x2: W, y1: PAD_TOP, y2: PAD_TOP }));
  svg.append (el ('text', { class: 'chart-label', x: 6, y: PAD_TOP - 4 },
                  Number.isInteger (top) ? `${top} ms` : formatMs (top)));

  // Newest on the right, as in a scrolling strip chart.
  const offset = SLOTS - recent.length;
  recent.forEach ((v, i) => {
    const x = (offset + i) * slot + slot * 0.15;
    const yy = y (v);
    const cls = ['chart-bar'];
    if (i === recent.length - 1)
      cls.push ('latest');
    if (v > top)
      cls.push ('clipped');
    svg.append (el ('rect', {
      class: cls.join (' '),
      x: x.toFixed (2), y: yy.toFixed (2),
      width: (slot * 0.7).toFixed (2), height: Math.max (1, H - PAD_BOTTOM - yy).toFixed (2),
      rx: Math.min (3, slot * 0.2),
    }));
  });

  if (med !== null) {
    const my = y (med).toFixed (2);
    svg.append (el ('line', { class: 'chart-median', x1: 0, x2: W, y1: my, y2: my }));
    svg.append (el ('text', { class: 'chart-label median', x: W - 6, y: Math.max (Number (my) - 4, 10),
                              'text-anchor': 'end' }, `median ${formatMs (med)}`));
  }
  svg.append (el ('line', { class: 'chart-base', x1: 0, x2: W, y1: H - PAD_BOTTOM, y2: H - PAD_BOTTOM }));
}
