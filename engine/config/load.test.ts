import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { repoPath } from '../paths.js';
import { KuzetError } from '../errors.js';
import { loadConfig, parseConfig } from './load.js';

const minimal = `
city: { id: c1, name: City }
detectors:
  - { id: det, type: yolox, model: m.onnx, labels: l.txt }
pipelines:
  - { id: default, detector: det }
schools:
  - id: s1
    name: School 1
    cameras:
      - id: cam1
        url: rtsp://127.0.0.1:8554/cam1
`;

function configError(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfig(text, 'pipelines/test.yaml', env);
  } catch (err) {
    assert.ok(err instanceof KuzetError);
    assert.equal(err.code, 'KUZET_ERR_CONFIG');
    return err.message;
  }
  assert.fail('expected a config error');
}

describe('config loading', () => {
  it('loads the shipped demo config with defaults filled in', () => {
    const cfg = loadConfig(repoPath('pipelines', 'demo.yaml'), {});
    assert.equal(cfg.schools.length, 2);
    assert.equal(cfg.schools.flatMap((s) => s.cameras).length, 8);
    assert.equal(cfg.engine.metrics.port, 9464);
    assert.equal(cfg.engine.database.url, '');
    assert.equal(cfg.engine.nats.url, 'nats://127.0.0.1:4222');
    assert.deepEqual(cfg.pipelines[0]!.sampling, { type: 'keyframes', maxFps: 1 });
  });

  it('reads environment placeholders and keeps numbers numeric', () => {
    const cfg = loadConfig(repoPath('pipelines', 'demo.yaml'), {
      KUZET_METRICS_PORT: '19464',
      DATABASE_URL: 'postgres://u@db/kuzet',
    });
    assert.equal(cfg.engine.metrics.port, 19464);
    assert.equal(cfg.engine.database.url, 'postgres://u@db/kuzet');
  });

  it('names the key, the file and the line of a bad value', () => {
    const msg = configError(minimal.replace('rtsp://127.0.0.1:8554/cam1', 'ftp://x/cam1'));
    assert.match(
      msg,
      /^schools\[0\]\.cameras\[0\]\.url: must be an rtsp:\/\/ or http\(s\):\/\/ URL \(pipelines\/test\.yaml:12\)$/,
    );
  });

  it('rejects unknown keys, naming them', () => {
    const msg = configError(minimal.replace('name: School 1', 'name: School 1\n    colour: red'));
    assert.match(msg, /schools\[0\]: .*colour.*pipelines\/test\.yaml:\d+/);
  });

  it('rejects references to unknown pipelines and duplicate ids', () => {
    const text = minimal.replace(
      '        url: rtsp://127.0.0.1:8554/cam1',
      '        url: rtsp://127.0.0.1:8554/cam1\n        pipeline: night\n      - { id: cam1, url: "rtsp://h/c" }',
    );
    const msg = configError(text);
    assert.match(msg, /schools\[0\]\.cameras\[0\]\.pipeline: unknown pipeline "night"/);
    assert.match(msg, /schools\[0\]\.cameras\[1\]\.id: duplicate camera id "cam1"/);
  });

  it('refuses passwords embedded in camera URLs', () => {
    const msg = configError(minimal.replace('rtsp://127.0.0.1', 'rtsp://admin:secret@127.0.0.1'));
    assert.match(msg, /cameras\[0\]\.url: must not embed a password/);
  });

  it('reports an unset environment variable by key', () => {
    const msg = configError(minimal.replace('name: City', 'name: "${CITY_NAME}"'));
    assert.match(msg, /city\.name: environment variable CITY_NAME is not set/);
  });

  it('reports YAML syntax errors with a line', () => {
    const msg = configError('city: [unclosed\n');
    assert.match(msg, /pipelines\/test\.yaml:\d+: YAML syntax error/);
  });

  it('validates zone polygons in normalised coordinates', () => {
    const text = minimal.replace(
      '        url: rtsp://127.0.0.1:8554/cam1',
      '        url: rtsp://127.0.0.1:8554/cam1\n        zones:\n          - { id: z, kind: restricted, polygon: [[0, 0], [1.5, 0], [1, 1]] }',
    );
    assert.match(configError(text), /zones\[0\]\.polygon\[1\]\[0\]: .*<=1/);
  });
});
