import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import sharp from '../../core/sharp-cjs.js';
import { mediaType } from '../../../shared/cloudevent.js';
import { DetectionError } from '../../../shared/errors.js';
import { OPTION_NAMES, optionsFromStrings, type OptionName } from '../../contract/options.js';
import { IMAGE_CONTENT_TYPES } from '../../core/decode.js';
import type { DetectionJob } from '../../core/detector.js';
import { runRequest } from '../../service/handle-event.js';
import type { DetectionService } from '../../service/service.js';

/** The form fields /detect takes besides the `image` file: the request options, by name. */
const FIELDS: ReadonlySet<string> = new Set(OPTION_NAMES);

type Wanted = 'json' | 'image/jpeg' | 'image/png';

/** JSON unless the client asks for the image, by `?format=image` or an Accept header that prefers one. */
function wanted(format: string | undefined, accept: string | undefined): Wanted {
  if (format === 'json') return 'json';
  const types = (accept ?? '').split(',').map((t) => t.split(';')[0]!.trim().toLowerCase());
  const firstImage = types.find((t) => t === 'image/jpeg' || t === 'image/png' || t === 'image/*');
  const jsonFirst = types.findIndex((t) => t === 'application/json');
  if (format === 'image' || (firstImage && (jsonFirst < 0 || types.indexOf(firstImage) < jsonFirst))) {
    return firstImage === 'image/png' ? 'image/png' : 'image/jpeg';
  }
  return 'json';
}

/**
 * POST /detect: a multipart upload (`curl -F image=@bus.jpg`), run through the same job runner, metrics and
 * errors as the CloudEvent route. The files still go to OUTPUT_DIR; the reply is the detection record, or the
 * annotated image itself.
 */
export default async function upload(app: FastifyInstance, opts: { service: DetectionService; maxImageBytes: number }) {
  await app.register(multipart, {
    limits: { fileSize: opts.maxImageBytes, files: 1, fields: FIELDS.size, fieldSize: 4096, parts: FIELDS.size + 1 },
  });

  app.post<{ Querystring: { format?: string } }>('/detect', async (req, reply) => {
    const want = wanted(req.query.format, req.headers.accept);
    let image: { bytes: Buffer; contentType: string } | undefined;
    const fields: Partial<Record<OptionName, string>> = {};
    let formError: DetectionError | undefined;
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        const bytes = await part.toBuffer();
        if (part.fieldname !== 'image') {
          formError ??= new DetectionError(
            'INVALID_DATA',
            `The form has a file field "${part.fieldname}"; send the image as "image".`,
          );
        } else {
          image = { bytes, contentType: mediaType(part.mimetype) ?? 'application/octet-stream' };
        }
      } else if (!FIELDS.has(part.fieldname)) {
        formError ??= new DetectionError(
          'INVALID_OPTION',
          `Unknown form field "${part.fieldname}"; known fields are image, ${[...FIELDS].join(', ')}.`,
        );
      } else {
        fields[part.fieldname as OptionName] = String(part.value);
      }
    }
    const { result } = await runRequest(
      opts.service,
      req.headers,
      (): DetectionJob => {
        if (formError) throw formError;
        if (!image) throw new DetectionError('MISSING_IMAGE', 'The form has no file field "image".');
        const options = optionsFromStrings(fields);
        if (want !== 'json' && options.annotate === false) {
          throw new DetectionError('INVALID_OPTION', 'Option "annotate" cannot be false when the image is asked for.');
        }
        // Browsers and curl label files by extension; an unlabelled file is decoded by its content.
        const declared = image.contentType;
        if (declared !== 'application/octet-stream' && !(declared in IMAGE_CONTENT_TYPES)) {
          throw new DetectionError('UNSUPPORTED_MEDIA_TYPE', `The uploaded file is ${declared}, not an image.`);
        }
        return {
          requestId: req.id,
          requestSource: `${opts.service.eventSource}/detect`,
          time: new Date(),
          input: { kind: 'bytes', bytes: image.bytes, contentType: declared },
          options,
        };
      },
      req.log,
    );
    if ('error' in result) return reply.code(result.error.status).headers(result.error.headers).send(result.error.body);
    const { record, annotated } = result.outcome;
    if (want === 'json' || !annotated) return reply.type('application/json; charset=utf-8').send(record);
    const body =
      annotated.contentType === want
        ? annotated.data
        : await sharp(annotated.data)[want === 'image/png' ? 'png' : 'jpeg']().toBuffer();
    return reply
      .type(want)
      .header('x-detections', String(record.detections.length))
      .header('x-output-json', record.output.json)
      .send(body);
  });
}
