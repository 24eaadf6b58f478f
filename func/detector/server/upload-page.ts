/**
 * The upload page: plain HTML and JavaScript served by the app, no build step. It posts the file to /detect,
 * shows the annotated image from /outputs and a table of the detections, and shows errors as the sentences the
 * API returns.
 */
export const UPLOAD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>knative-yolo</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.4rem; }
  #drop { border: 2px dashed #999; border-radius: 8px; padding: 2rem; text-align: center; cursor: pointer; }
  #drop.over { border-color: #0a7; background: #efe; }
  form { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; margin: 1rem 0; }
  #error { color: #b00; font-weight: 600; min-height: 1.5em; }
  #status { color: #555; min-height: 1.5em; }
  img { max-width: 100%; border: 1px solid #ccc; }
  table { border-collapse: collapse; margin-top: 1rem; }
  th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
  th:first-child, td:first-child { text-align: left; }
</style>
</head>
<body>
<h1>knative-yolo: object detection</h1>
<form id="form">
  <div id="drop">Drop an image here, or <label>choose one <input id="file" name="image" type="file" accept="image/*"></label></div>
  <label>confidence <input id="conf" name="conf" type="number" min="0" max="1" step="0.05" value="0.25"></label>
  <label>classes <input id="classes" name="classes" type="text" placeholder="person,bus (all if empty)"></label>
  <button id="submit" type="submit">Detect</button>
</form>
<p id="status" role="status"></p>
<p id="error" role="alert"></p>
<div id="result" hidden>
  <img id="annotated" alt="the image with the detected objects outlined">
  <table id="detections">
    <thead><tr><th>label</th><th>confidence</th><th>x1</th><th>y1</th><th>x2</th><th>y2</th></tr></thead>
    <tbody></tbody>
  </table>
</div>
<script>
const $ = (id) => document.getElementById(id);
let chosen = null;
$('file').addEventListener('change', () => { chosen = $('file').files[0] || null; if (chosen) send(); });
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  chosen = e.dataTransfer.files[0] || null;
  if (chosen) send();
});
$('form').addEventListener('submit', (e) => { e.preventDefault(); send(); });

function cell(row, text) { const td = document.createElement('td'); td.textContent = text; row.appendChild(td); }

async function send() {
  $('error').textContent = '';
  $('result').hidden = true;
  if (!chosen) { $('error').textContent = 'Choose an image first.'; return; }
  const body = new FormData();
  body.append('conf', $('conf').value);
  if ($('classes').value.trim()) body.append('classes', $('classes').value.trim());
  body.append('image', chosen, chosen.name);
  $('status').textContent = 'Detecting objects in ' + chosen.name + '…';
  $('submit').disabled = true;
  try {
    const res = await fetch('/detect', { method: 'POST', body, headers: { accept: 'application/json' } });
    const data = await res.json().catch(() => null);
    if (!res.ok) {
      $('status').textContent = '';
      $('error').textContent = (data && data.error) || ('The server answered ' + res.status + '.');
      return;
    }
    const rows = $('detections').querySelector('tbody');
    rows.replaceChildren();
    for (const d of data.detections) {
      const row = document.createElement('tr');
      cell(row, d.label);
      cell(row, d.confidence.toFixed(2));
      for (const k of ['x1', 'y1', 'x2', 'y2']) cell(row, d.box[k].toFixed(0));
      rows.appendChild(row);
    }
    $('annotated').src = '/outputs/' + data.output.image;
    $('result').hidden = false;
    const n = data.detections.length;
    $('status').textContent = n + (n === 1 ? ' object' : ' objects') + ' found in ' + data.image.width + '×' +
      data.image.height + ' pixels, ' + Math.round(data.timings.totalMs) + ' ms.';
  } catch (err) {
    $('status').textContent = '';
    $('error').textContent = 'The server could not be reached: ' + err.message + '.';
  } finally {
    $('submit').disabled = false;
  }
}
</script>
</body>
</html>
`;
