import { MicroBatcher, type BatchOptions } from './micro-batcher.js';
import type { Model, ModelOutput } from './model.js';

type Output = ModelOutput;

/**
 * A Model whose single-image runs share `session.run` calls: concurrent images are stacked along the batch axis
 * (which must be dynamic), run once, and the output is split back per image, each with batch dimension 1.
 * Runs of more than one image pass straight through.
 */
export function batchedModel(model: Model, options: BatchOptions, onBatch?: (size: number) => void): Model {
  const { info } = model;
  if (info.batch !== 'dynamic') {
    throw new Error(`model ${info.name} has a static batch axis; it cannot batch several images in one run`);
  }
  const [h, w] = info.inputSize;
  const imageSize = 3 * h * w;

  const batcher = new MicroBatcher<Float32Array, Output>(
    async (inputs) => {
      const stacked = new Float32Array(imageSize * inputs.length);
      inputs.forEach((input, i) => stacked.set(input, i * imageSize));
      const out = await model.run(stacked, inputs.length);
      const [batch, ...rest] = out.dims;
      if (batch !== inputs.length) throw new Error(`model returned batch ${batch} for ${inputs.length} images`);
      const per = out.data.length / inputs.length;
      // Each image's own tensor was copied into the stack: it is free again. A lone image's output is the whole
      // output, handed back when that image is done with it; batch-mates' outputs are left to the collector.
      return inputs.map((input, i) => ({
        data: out.data.subarray(i * per, (i + 1) * per),
        dims: [1, ...rest],
        runMs: out.runMs,
        input,
        ...(inputs.length === 1 && out.recycle ? { recycle: out.recycle } : {}),
      }));
    },
    options,
    onBatch,
  );

  return {
    info,
    run(input, batch) {
      if (batch !== 1) return model.run(input, batch);
      // A wrong-sized tensor would shift every batch-mate's image; refuse it before it joins a batch.
      if (input.length !== imageSize) {
        return Promise.reject(new Error(`input has ${input.length} values; one ${h}x${w} image has ${imageSize}`));
      }
      return batcher.submit(input);
    },
    release: () => model.release(),
    failure: () => model.failure?.(),
    threads: model.threads,
  };
}
