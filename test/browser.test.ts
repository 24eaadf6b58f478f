import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import t from 'tap';
import { IMAGES, YOLOV8N } from './support/paths.js';
import { startServer } from './support/server-process.js';
import { scratchDir } from './support/scratch.js';

/** The upload page, end to end in headless Chromium (Debian's package; .ci/run installs it). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

t.test(
  'upload page in a real browser',
  { skip: !existsSync(CHROMIUM) && !process.env.CI && `no ${CHROMIUM}` },
  async (t) => {
    const work = await scratchDir(t, 'kyolo-browser-');
    const server = await startServer('server', { env: { MODEL_PATH: YOLOV8N, INPUT_DIR: IMAGES, OUTPUT_DIR: work } });
    t.teardown(() => server.stop('SIGKILL'));
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    t.teardown(() => browser.close());
    const page = await browser.newPage();
    await page.goto(server.url + '/');
    t.equal(await page.title(), 'knative-yolo');

    await page.setInputFiles('#file', path.join(IMAGES, 'bus.jpg'));
    await page.waitForSelector('#detections tbody tr', { timeout: 30_000 });
    const labels = await page.$$eval('#detections tbody tr td:first-child', (cells) => cells.map((c) => c.textContent));
    t.ok(labels.includes('bus'), `the table lists a bus (${labels})`);
    t.ok(labels.filter((l) => l === 'person').length >= 3, 'and persons');
    await page.waitForFunction(() => (document.getElementById('annotated') as HTMLImageElement).naturalWidth > 0);
    const size = await page.$eval('#annotated', (img) => [
      (img as HTMLImageElement).naturalWidth,
      (img as HTMLImageElement).naturalHeight,
    ]);
    t.same(size, [810, 1080], 'the annotated image is shown');
    t.match(await page.textContent('#status'), /5 objects found/);
    t.equal(await page.textContent('#error'), '', 'no error');
    await page.screenshot({ path: path.join(work, 'bus.png'), fullPage: true });

    const notes = path.join(work, 'notes.txt');
    await writeFile(notes, 'not an image\n');
    await page.setInputFiles('#file', notes);
    await page.waitForFunction(() => document.getElementById('error')!.textContent !== '', undefined, {
      timeout: 30_000,
    });
    const error = await page.textContent('#error');
    t.match(error, /^The uploaded file is text\/plain, not an image\.$/, `the error is shown as a sentence: ${error}`);
    t.ok(await page.$eval('#result', (el) => (el as HTMLElement).hidden), 'the previous result is hidden');
    if (process.env.SCREENSHOT_DIR) {
      await page.screenshot({ path: path.join(process.env.SCREENSHOT_DIR, 'upload-error.png'), fullPage: true });
      await rm(path.join(process.env.SCREENSHOT_DIR, 'upload-bus.png'), { force: true });
      const { copyFile } = await import('node:fs/promises');
      await copyFile(path.join(work, 'bus.png'), path.join(process.env.SCREENSHOT_DIR, 'upload-bus.png'));
    }
  },
);
