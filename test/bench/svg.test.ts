// The bench's chart writer: a standalone SVG with a line and markers per series, a log x axis
// that still places 0, dashed baselines, escaped text and gaps where a point was not measured.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderChart, tickText } from '../../bench/curves/svg.js';

const chart = {
  title: 'Rate <by> depth & size',
  xLabel: 'depth',
  yLabel: 'msgs/s',
  series: [
    {
      name: 'subject',
      points: [
        [0, 10],
        [10, 20],
        [1000, NaN],
        [100_000, 30],
      ] as const,
    },
    {
      name: 'baseline',
      points: [
        [0, 12],
        [100_000, 12],
      ] as const,
      baseline: true,
    },
  ],
};

test('svg - renders a standalone document with a white background', () => {
  const svg = renderChart(chart);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<rect width="\d+" height="\d+" fill="#ffffff"\/>/);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
});

test('svg - escapes text and draws the legend for every series', () => {
  const svg = renderChart(chart);
  assert.ok(svg.includes('Rate &lt;by&gt; depth &amp; size'));
  assert.ok(svg.includes('>subject</text>'));
  assert.ok(svg.includes('>baseline</text>'));
});

test('svg - splits a line at a missing point and dashes the baseline', () => {
  const svg = renderChart(chart);
  const lines = [...svg.matchAll(/<polyline points="([^"]+)"[^>]*>/g)];
  // subject: [0, 10] and [100000] runs; baseline: one run.
  assert.equal(lines.length, 3);
  assert.equal(lines.filter((m) => m[0].includes('stroke-dasharray')).length, 1);
});

test('svg - places 0 left of the first positive x on the log axis', () => {
  const svg = renderChart(chart);
  const xOf = (label: string) => {
    const m = new RegExp(
      `<text x="([\\d.]+)" y="[\\d.]+" text-anchor="middle" fill="#333333">${label}</text>`,
    ).exec(svg);
    assert.ok(m, `tick ${label}`);
    return Number(m[1]);
  };
  assert.ok(xOf('0') < xOf('10'));
  assert.ok(xOf('10') < xOf('1k'));
  assert.ok(xOf('1k') < xOf('100k'));
});

test('svg - log y axis drops non-positive values instead of failing', () => {
  const svg = renderChart({
    ...chart,
    logY: true,
    series: [
      {
        name: 'a',
        points: [
          [1, 0],
          [2, 5],
          [4, 50],
        ],
      },
    ],
  });
  assert.equal([...svg.matchAll(/<polyline /g)].length, 1);
  assert.ok(!svg.includes('NaN'));
});

test('svg - tick labels are short', () => {
  assert.equal(tickText(0), '0');
  assert.equal(tickText(1024), '1k');
  assert.equal(tickText(10_000_000), '10M');
  assert.equal(tickText(0.001), '0.001');
});
