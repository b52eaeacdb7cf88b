"""Parameter counts and CPU time per training batch for each generator config (+ its patch discriminator).

    python benchmarks/bench_model.py [--batch 8] [--repeats 3] [--configs tiny course]

Prints a Markdown table and writes benchmarks/results/model_cpu.md. Times are medians of `--repeats` runs after one
warm-up (graph tracing excluded), TensorFlow backend, eager `GradientTape` steps compiled with `tf.function`.
For scale, DESIGN.md's GPU target is ≥ 3,000 img/s training throughput at 128² (course) on one H100.
"""

import argparse
import os
import sys

from report import median_time, publish

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def measure(name: str, batch: int, repeats: int) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from colorlab.losses import discriminator_loss, generator_loss
    from colorlab.models import PatchDiscriminator, build_gray2colornet, count_params, get_config

    keras.utils.set_random_seed(0)
    config = get_config(name)
    model = build_gray2colornet(config)
    disc = PatchDiscriminator.from_model_config(config)
    size = config.image_size
    rng = np.random.default_rng(0)
    target_l = tf.constant(rng.uniform(-1, 1, (batch, size, size, 1)), tf.float32)
    reference = tf.constant(rng.uniform(-1, 1, (batch, config.reference_size, config.reference_size, 3)), tf.float32)
    target_ab = tf.constant(rng.uniform(-0.5, 0.5, (batch, size, size, 2)), tf.float32)
    labels = tf.constant(rng.integers(0, max(config.num_classes, 1), batch))

    @tf.function
    def forward():
        return model([target_l, reference], training=False)["ab"]

    @tf.function
    def train_step():
        with tf.GradientTape(persistent=True) as tape:
            outputs = model([target_l, reference], training=True)
            fake = disc([target_l, outputs["ab"]], training=True)
            real = disc([target_l, target_ab], training=True)
            g_total, _ = generator_loss(outputs, target_ab, reference[..., 1:],
                                        labels if config.num_classes else None, fake,
                                        config.loss_weights)
            d_total = discriminator_loss(real, fake)
        g_grads = tape.gradient(g_total, model.trainable_variables)
        d_grads = tape.gradient(d_total, disc.trainable_variables)
        return g_total, d_total, g_grads, d_grads

    def timed(fn):
        fn()  # trace and warm up
        return median_time(fn, repeats)

    fwd, step = timed(forward), timed(train_step)
    return {"config": name, "size": size, "params": count_params(name)["total"],
            "disc_params": int(sum(np.prod(v.shape) for v in disc.weights)),
            "forward_s": fwd, "step_s": step, "img_per_s": batch / step}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--configs", nargs="+", default=["tiny", "course"])
    args = parser.parse_args(argv)
    rows = [measure(name, args.batch, args.repeats) for name in args.configs]
    lines = [f"batch {args.batch}, {os.cpu_count()} CPU cores, TensorFlow backend, median of {args.repeats}",
             "",
             "| config | working size | generator params | discriminator params | forward / batch (s) "
             "| forward+backward G and D / batch (s) | train img/s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['size']}² | {r['params']:,} | {r['disc_params']:,} | "
                     f"{r['forward_s']:.3f} | {r['step_s']:.3f} | {r['img_per_s']:.1f} |")
    publish("model_cpu", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
