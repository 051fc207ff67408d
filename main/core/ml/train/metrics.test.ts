import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoreError } from '../../errors.ts';
import { evaluate, PROBABILITY_FLOOR } from './metrics.ts';

const CLASSES = ['cat', 'dog', 'fox', 'owl'];

const near = (actual: number, expected: number, what: string): void => assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} vs ${expected}`);

test('accuracy, per-class precision/recall/F1, macro-F1, loss and confusion on a hand-checked example', () => {
  // fox is never predicted; owl has no images but is predicted once.
  const rows: [number, number[]][] = [
    [0, [0.7, 0.1, 0.1, 0.1]], // cat → cat
    [0, [0.2, 0.6, 0.1, 0.1]], // cat → dog
    [1, [0.1, 0.8, 0.05, 0.05]], // dog → dog
    [1, [0.25, 0.25, 0.25, 0.25]], // dog → cat (a tie goes to the lower index)
    [2, [0.1, 0.2, 0.3, 0.4]], // fox → owl
    [2, [0.3, 0.5, 0.1, 0.1]], // fox → dog
  ];
  const m = evaluate(Float32Array.from(rows.flatMap(([, p]) => p)), Int32Array.from(rows.map(([y]) => y)), CLASSES);

  assert.equal(m.count, 6);
  near(m.accuracy, 2 / 6, 'accuracy');
  assert.deepEqual(m.confusion, [
    [1, 1, 0, 0],
    [1, 1, 0, 0],
    [0, 1, 0, 1],
    [0, 0, 0, 0],
  ]);
  const expect = { cat: [1 / 2, 1 / 2, 1 / 2, 2], dog: [1 / 3, 1 / 2, 0.4, 2], fox: [0, 0, 0, 2], owl: [0, 0, 0, 0] } as const;
  for (const [name, [precision, recall, f1, support]] of Object.entries(expect)) {
    const c = m.perClass[name]!;
    near(c.precision, precision, `${name} precision`);
    near(c.recall, recall, `${name} recall`);
    near(c.f1, f1, `${name} F1`);
    assert.equal(c.support, support, `${name} support`);
  }
  // Macro-F1 over the classes with images (owl has none): (0.5 + 0.4 + 0) / 3.
  near(m.macroF1, 0.3, 'macro-F1');
  const loss = -[0.7, 0.2, 0.8, 0.25, 0.3, 0.1].reduce((a, p) => a + Math.log(p), 0) / 6;
  assert.ok(Math.abs(m.loss - loss) < 1e-6, `loss ${m.loss} vs ${loss}`);
});

test('a perfect classifier scores 1; a zero probability for the true class gives a large but finite loss', () => {
  const perfect = evaluate(Float32Array.from([1, 0, 0, 1]), Int32Array.from([0, 1]), ['a', 'b']);
  assert.equal(perfect.accuracy, 1);
  assert.equal(perfect.macroF1, 1);
  assert.equal(perfect.loss, 0);
  const wrong = evaluate(Float32Array.from([1, 0]), Int32Array.from([1]), ['a', 'b']);
  assert.equal(wrong.accuracy, 0);
  near(wrong.loss, -Math.log(PROBABILITY_FLOOR), 'floored loss');
});

test('an empty split gives zeros; malformed input is refused', () => {
  const empty = evaluate(new Float32Array(0), new Int32Array(0), ['a', 'b']);
  assert.deepEqual(empty, {
    count: 0,
    accuracy: 0,
    macroF1: 0,
    loss: 0,
    perClass: { a: { precision: 0, recall: 0, f1: 0, support: 0 }, b: { precision: 0, recall: 0, f1: 0, support: 0 } },
    confusion: [
      [0, 0],
      [0, 0],
    ],
  });
  const refused = (fn: () => unknown, pattern: RegExp): void => assert.throws(fn, (err: unknown) => err instanceof CoreError && pattern.test(err.message));
  refused(() => evaluate(new Float32Array(5), Int32Array.from([0, 1]), ['a', 'b']), /5 probabilities for 2 images and 2 classes/);
  refused(() => evaluate(new Float32Array(4), Int32Array.from([0, 2]), ['a', 'b']), /class index 2, outside the 2 classes/);
  refused(() => evaluate(new Float32Array(0), new Int32Array(0), []), /without classes/);
});
