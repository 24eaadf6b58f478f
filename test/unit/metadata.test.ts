import t from 'tap';
import {
  parseClassNames,
  parseImageSize,
  parsePythonLiteral,
  PyLiteralError,
} from '../../func/detector/core/ultralytics-metadata.js';

t.test('parses the literals Ultralytics writes', async (t) => {
  t.same(parseClassNames("{0: 'person', 1: 'bicycle', 2: \"traffic light\"}"), ['person', 'bicycle', 'traffic light']);
  t.same(parseClassNames("['a', 'b']"), ['a', 'b']);
  t.same(parseImageSize('[640, 640]'), [640, 640]);
  t.same(parseImageSize('320'), [320, 320]);
  t.same(parseImageSize('(384, 640)'), [384, 640]);
  const args = parsePythonLiteral("{'batch': 1, 'half': False, 'nms': True, 'conf': None, 'x': -1.5e-3}");
  t.ok(args instanceof Map);
  const m = args as Map<string, unknown>;
  t.same([m.get('batch'), m.get('half'), m.get('nms'), m.get('conf'), m.get('x')], [1, false, true, null, -0.0015]);
  t.equal(parsePythonLiteral("'it\\'s'"), "it's");
});

t.test('never evaluates: code and malformed input are refused', async (t) => {
  for (const bad of [
    "__import__('os').system('true')",
    "{0: 'person'",
    "{0: 'person'} + 1",
    '{0: person}',
    '[1, 2,, 3]',
    "'unterminated",
    '',
  ]) {
    t.throws(() => parsePythonLiteral(bad), PyLiteralError, JSON.stringify(bad));
  }
  t.throws(() => parseClassNames("{0: 'a', 2: 'c'}"), /class 1/, 'a gap in the ids is refused');
  t.throws(() => parseImageSize('[640]'), PyLiteralError);
});
