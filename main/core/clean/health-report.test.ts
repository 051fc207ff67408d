import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FINDING_KINDS, type DatasetHealth, type FindingCounts, type FindingKind, type FindingView, type ImageRow } from '../../../shared/contract/index.ts';
import { FINDING_DESCRIPTIONS, KIND_TITLES, suggestionText } from '../../../shared/domain/findings.ts';
import { escapeHtml, FINDINGS_PER_KIND, healthReportHtml } from './health-report.ts';

// The renderer is pure: hand-built health and findings are its real input.

function counts(over: Partial<Record<FindingKind, Partial<FindingCounts>>> = {}): Record<FindingKind, FindingCounts> {
  return Object.fromEntries(FINDING_KINDS.map((k) => [k, { open: 0, fixed: 0, dismissed: 0, ...over[k] }])) as Record<FindingKind, FindingCounts>;
}

function health(over: Partial<DatasetHealth> = {}): DatasetHealth {
  return {
    projectName: 'Recycling',
    images: 1240,
    active: 1200,
    excluded: 40,
    unlabeled: 17,
    classes: [
      { id: 1, name: 'glass', colour: '#56b4e9', counts: { total: 800, train: 600, val: 100, test: 80, none: 20 } },
      { id: 2, name: 'paper', colour: '#e69f00', counts: { total: 200, train: 150, val: 25, test: 25, none: 0 } },
      { id: 3, name: 'trash', colour: '#009e73', counts: { total: 183, train: 140, val: 20, test: 23, none: 0 } },
    ],
    imbalanceRatio: 800 / 183,
    splits: { total: 1200, train: 890, val: 145, test: 128, none: 37 },
    formats: { jpeg: 1100, png: 140 },
    sizes: [
      { label: '< 256', count: 12 },
      { label: '256–511', count: 1190 },
      { label: '512–1023', count: 38 },
    ],
    smallest: { width: 64, height: 48 },
    largest: { width: 1024, height: 768 },
    findings: counts(),
    lastCheck: { at: Date.UTC(2025, 0, 2, 10, 0), kinds: [...FINDING_KINDS], seconds: 41.2, backbone: 'mobilenet_v1_0.25_224', notes: [] },
    generatedAt: Date.UTC(2025, 0, 3, 9, 30),
    ...over,
  };
}

function image(id: number, over: Partial<ImageRow> = {}): ImageRow {
  return {
    id,
    path: `/data/recycling/img_${id}.jpg`,
    fileName: `img_${id}.jpg`,
    sha256: id.toString(16).padStart(64, '0'),
    width: 320,
    height: 240,
    format: 'jpeg',
    derivedFrom: null,
    bytes: 20_000,
    status: 'active',
    classId: 1,
    split: 'train',
    prediction: null,
    ...over,
  };
}

function finding(id: number, kind: FindingKind, over: Partial<FindingView> = {}): FindingView {
  return {
    id,
    kind,
    state: 'open',
    score: 0.5,
    explanation: `Finding ${id} of kind ${kind}.`,
    suggestion: { action: 'exclude' },
    images: [image(id)],
    files: [],
    spansSplits: false,
    spansClasses: false,
    detectedAt: 1,
    updatedAt: 1,
    ...over,
  };
}

function assertSelfContained(html: string): void {
  for (const forbidden of ['src="http', 'href="http', "src='http", '<script', '<link', '@import', 'url(']) {
    assert.ok(!html.toLowerCase().includes(forbidden), `the report must not contain ${forbidden}`);
  }
}

test('escapeHtml neutralises tags, quotes and ampersands', () => {
  assert.equal(escapeHtml('<script>alert("x")</script>'), '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
  assert.equal(escapeHtml(`it's a "b" & c`), 'it&#39;s a &quot;b&quot; &amp; c');
  assert.equal(escapeHtml('&amp;'), '&amp;amp;', 'an existing entity is escaped again, so it shows as typed');
  assert.equal(escapeHtml('plain text 123'), 'plain text 123');
});

test('every string from the data is escaped: project, class, file names, paths, explanations, notes', () => {
  const evil = '<script>alert(1)</script>';
  const h = health({
    projectName: `${evil} & "co"`,
    classes: [
      { id: 1, name: `glass ${evil}`, colour: '#56b4e9', counts: { total: 3, train: 3, val: 0, test: 0, none: 0 } },
      { id: 2, name: `paper"><img src=x onerror=alert(2)>`, colour: 'red;background:url(http://evil)', counts: { total: 1, train: 1, val: 0, test: 0, none: 0 } },
    ],
    formats: { [`jp<e>g`]: 4 },
    sizes: [{ label: `<b>huge</b>`, count: 4 }],
    findings: counts({ near_duplicate: { open: 1 }, corrupt: { open: 1 }, class_overlap: { open: 1 } }),
    lastCheck: { at: 1, kinds: ['near_duplicate'], seconds: 1, backbone: `bb ${evil}`, notes: [`note ${evil}`] },
  });
  const html = healthReportHtml(
    h,
    [
      {
        kind: 'near_duplicate',
        items: [
          finding(1, 'near_duplicate', {
            explanation: `Looks like ${evil}`,
            images: [image(1, { fileName: `a${evil}.jpg`, path: `/x/"quoted"/a${evil}.jpg` }), image(2, { classId: 2 })],
            suggestion: { action: 'relabel', classId: 2, className: `paper ${evil}`, probability: 0.9 },
          }),
        ],
      },
      { kind: 'corrupt', items: [finding(3, 'corrupt', { images: [], files: [`/x/bad ${evil}.jpg`], suggestion: { action: 'fix_file' } })] },
      { kind: 'class_overlap', items: [finding(4, 'class_overlap', { classes: [{ id: 1, name: `glass ${evil}` }, { id: 2, name: 'paper' }] })] },
    ],
    { thumbnails: new Map([[1, `data:image/jpeg;base64,AAAA" onerror="alert(3)`], [2, 'http://example.com/x.jpg']]) },
  );
  assert.equal((html.match(/<script/gi) ?? []).length, 0, 'no script tag survives');
  assert.ok(!html.includes('<img src=x'), 'an injected img tag in a class name stays text');
  assert.ok(!html.includes('onerror="alert'), 'an injected attribute in a thumbnail is dropped');
  assert.ok(!html.includes('example.com'), 'a thumbnail that is not a data: URL is dropped');
  assert.ok(!html.includes('evil'), 'a class colour that is not #rrggbb never reaches a style attribute');
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;co&quot;'), 'the project name shows escaped');
  assert.ok(html.includes('/<wbr>x/<wbr>&quot;quoted&quot;/<wbr>a&lt;script&gt;'), 'the path shows escaped');
  assert.ok(html.includes('note &lt;script&gt;'), 'check notes show escaped');
  assert.ok(html.includes('&lt;b&gt;huge&lt;/b&gt;'), 'size bucket labels show escaped');
  assertSelfContained(html);
});

test('a realistic report has the title, counts, class names, splits, formats, sizes and findings', () => {
  const h = health({ findings: counts({ near_duplicate: { open: 2, fixed: 3, dismissed: 4 }, label_issue: { open: 1 } }) });
  const html = healthReportHtml(
    h,
    [
      {
        kind: 'near_duplicate',
        items: [
          finding(10, 'near_duplicate', {
            score: 0.97,
            images: [image(10, { split: 'train' }), image(11, { split: 'test', classId: 2 })],
            suggestion: { action: 'keep', imageId: 10 },
            spansSplits: true,
            spansClasses: true,
          }),
          finding(12, 'near_duplicate', { score: 0.9, images: [image(12), image(13)], suggestion: { action: 'keep', imageId: 12 } }),
          finding(14, 'near_duplicate', { state: 'dismissed', explanation: 'This one was dismissed.' }),
        ],
      },
      { kind: 'label_issue', items: [finding(20, 'label_issue', { suggestion: { action: 'relabel', classId: 1, className: 'glass', probability: 0.914 }, images: [image(20, { classId: 2, split: 'val' })] })] },
    ],
    { thumbnails: new Map([[10, 'data:image/jpeg;base64,/9j/4AAQSkZJRg==']]) },
  );
  assert.ok(html.startsWith('<!DOCTYPE html>'), 'the report is a whole HTML document');
  assert.ok(html.includes('<title>Dataset health — Recycling</title>'), 'the title names the project');
  assert.ok(html.includes('Generated 2025-01-03'), 'the generated date shows');
  for (const n of ['1,240', '1,200', '40', '17', '800', '183', '890', '145', '128', '1,100', '140']) {
    assert.ok(html.includes(`>${n}<`), `the count ${n} shows as a cell of its own`);
  }
  for (const name of ['glass', 'paper', 'trash']) assert.ok(html.includes(`>${name}<`), `class ${name} is named`);
  assert.ok(html.includes('background:#56b4e9'), 'class bars use the class colour');
  assert.ok(html.includes('4.4×'), 'the imbalance ratio shows');
  assert.ok(html.includes('the largest class has 4.4× the images of the smallest'), 'an imbalance over 3 is explained');
  assert.ok(html.includes('JPEG') && html.includes('PNG'), 'formats are listed');
  assert.ok(html.includes('256–511') && html.includes('64 × 48') && html.includes('1,024 × 768'), 'sizes, smallest and largest show');
  for (const kind of FINDING_KINDS) {
    assert.ok(html.includes(KIND_TITLES[kind]), `the findings table lists ${kind}`);
    assert.ok(html.includes(escapeHtml(FINDING_DESCRIPTIONS[kind])), `the findings table describes ${kind}`);
  }
  assert.ok(html.includes('<a href="#kind-near_duplicate">2</a>'), 'open near-duplicates link to their section');
  assert.ok(html.includes('id="kind-near_duplicate"') && html.includes('id="kind-label_issue"'), 'each kind with open findings has a section');
  assert.ok(!html.includes('id="kind-blurry"'), 'kinds without open findings have no section');
  assert.ok(html.includes('leak across splits') && html.includes('labels disagree'), 'a duplicate spanning splits and classes is called out');
  assert.equal((html.match(/class="badge leak"/g) ?? []).length, 1, 'only the group that spans splits carries the leak badge');
  assert.ok(html.includes('Relabel to glass (91%)'), 'a relabel suggestion names the class and probability');
  assert.ok(html.includes('Keep one copy, exclude the others'), 'a duplicate suggests keeping one copy');
  assert.ok(!html.includes('This one was dismissed.'), 'dismissed findings are not listed');
  assert.ok(html.includes('<img src="data:image/jpeg;base64,/9j/4AAQSkZJRg==" alt="img_10.jpg">'), 'a given thumbnail is embedded');
  assert.equal((html.match(/<img /g) ?? []).length, 1, 'images without a thumbnail get none');
  assert.ok(/paper · test/.test(html) && /paper · val/.test(html), 'each image shows its class and split');
  assertSelfContained(html);
});

test('empty states: never checked, checked with nothing open, no images, one class', () => {
  const neverChecked = healthReportHtml(health({ lastCheck: null }), []);
  assert.ok(neverChecked.includes('No open findings — run Check dataset to look for problems'), 'an unchecked dataset is told to run the check');

  const clean = healthReportHtml(health({ findings: counts({ blurry: { fixed: 5, dismissed: 2 } }) }), []);
  assert.ok(clean.includes('No open findings<'), 'a checked dataset with nothing open says so');
  assert.ok(!clean.includes('run Check dataset'), 'a checked dataset is not told to run the check');
  assert.ok(!clean.includes('class="kind"'), 'no finding sections when nothing is open');

  const empty = healthReportHtml(
    health({
      images: 0, active: 0, excluded: 0, unlabeled: 0, classes: [], imbalanceRatio: null,
      splits: { total: 0, train: 0, val: 0, test: 0, none: 0 }, formats: {}, sizes: [], smallest: null, largest: null, lastCheck: null,
    }),
    [],
  );
  assert.ok(empty.includes('No images yet'), 'an empty project says there are no images');
  assert.ok(empty.includes('No classes yet'), 'an empty project says there are no classes');
  assert.ok(empty.includes('No active images'), 'an empty project says no split has images');
  assert.ok(!empty.includes('NaN') && !empty.includes('Infinity'), 'no arithmetic leaks into an empty report');
  assertSelfContained(empty);

  const oneClass = healthReportHtml(
    health({ classes: [{ id: 1, name: 'glass', colour: '#56b4e9', counts: { total: 10, train: 10, val: 0, test: 0, none: 0 } }], imbalanceRatio: null }),
    [],
  );
  assert.ok(oneClass.includes('Only one class'), 'a single class is pointed out');
  assert.ok(oneClass.includes('needs at least two classes'), 'the imbalance card explains why it has no ratio');
  assert.ok(!oneClass.includes('the largest class has'), 'no imbalance hint with one class');
});

test('a balanced dataset gets no imbalance hint', () => {
  const html = healthReportHtml(health({ imbalanceRatio: 2.5 }), []);
  assert.ok(html.includes('2.5×'), 'the ratio shows');
  assert.ok(!html.includes('the largest class has'), 'a ratio of 3 or less is not called out');
});

test('2,500 findings render capped per kind, best first, with an "and N more" line', () => {
  const kinds: FindingKind[] = ['near_duplicate', 'blurry', 'label_issue', 'outlier', 'dark'];
  const perKind = 500;
  let id = 0;
  const input = kinds.map((kind) => ({
    kind,
    items: Array.from({ length: perKind }, (_, i) => finding(++id, kind, { score: i / perKind, explanation: `${kind} number ${i}.` })),
  }));
  const h = health({ findings: counts(Object.fromEntries(kinds.map((k) => [k, { open: perKind }]))) });
  const started = performance.now();
  const html = healthReportHtml(h, input);
  const ms = performance.now() - started;
  assert.equal((html.match(/class="finding"/g) ?? []).length, kinds.length * FINDINGS_PER_KIND, `${FINDINGS_PER_KIND} findings per kind are listed`);
  assert.equal((html.match(/and 480 more findings/g) ?? []).length, kinds.length, 'each kind says how many more there are');
  assert.ok(html.includes(`blurry number ${perKind - 1}.`), 'the highest-scoring finding is listed');
  assert.ok(!html.includes('blurry number 0.'), 'the lowest-scoring finding is not');
  assert.ok(html.length < 400_000, `the capped report stays small (${html.length} characters)`);
  assert.ok(ms < 2000, `rendering 2,500 findings takes ${ms.toFixed(0)} ms`);
  assertSelfContained(html);
});

test('the "and N more" count follows the open count when only a page of findings is passed', () => {
  const items = Array.from({ length: 25 }, (_, i) => finding(i + 1, 'outlier'));
  const html = healthReportHtml(health({ findings: counts({ outlier: { open: 300 } }) }), [{ kind: 'outlier', items }]);
  assert.ok(html.includes('and 280 more findings'), 'the remainder counts every open finding, not just those passed');
  assert.ok(html.includes('(300 open)'), 'the section heading gives the open count');
});

test('suggestionText words every suggestion', () => {
  assert.equal(suggestionText({ action: 'exclude' }), 'Exclude');
  assert.equal(suggestionText({ action: 'relabel', classId: 3, className: 'glass', probability: 0.91 }), 'Relabel to glass (91%)');
  assert.equal(suggestionText({ action: 'keep', imageId: 4 }), 'Keep one copy, exclude the others');
  assert.equal(suggestionText({ action: 'fix_file' }), 'Fix or delete the file on disk');
  assert.equal(suggestionText({ action: 'review' }), 'Review the examples');
  assert.equal(suggestionText(null), '');
});
