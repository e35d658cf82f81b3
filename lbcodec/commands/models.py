"""`lbcodec models`: the weights registry."""

from __future__ import annotations

import json

import click

from .common import Ctx, quiet_option, reports_errors


@click.command(short_help="List the trained models in the weights registry.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@quiet_option
@click.pass_obj
@reports_errors
def models(obj: Ctx, as_json):
    """List every model of the weights registry: name, network, the slot it serves,
    container id, and its validation score; `default` marks the model `encode` picks for
    its slot (--post auto, and the pre-filter of comcnn/modifynet), and `after NAME` the
    ComCNN a comcnn post-filter was trained after (its partner).

    \b
    Example:
      lbcodec models --json
    """
    from ..zoo import default_weights_dir, list_models

    rows = list_models()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no trained models in {default_weights_dir()}: every CNN slot falls back to bicubic")
        return
    from ..filters import default_post, default_pre
    from ..zoo import trained_after

    def is_default(e: dict) -> bool:
        s = e["slot"]
        scale = int(s.get("scale", 1))
        pick = (default_pre if s["role"] == "pre" else default_post)(s["method"], s["codec"], scale)
        return pick is not None and pick["name"] == e["name"]

    for e in rows:
        slot = e["slot"]
        after = trained_after(e)
        rng = f" bpp {slot['bpp'][0]}-{slot['bpp'][1]}" if slot.get("bpp") else ""
        val = e.get("provenance", {}).get("validation", {})
        score, shown = val.get("score"), ""
        if score is not None:  # a PSNR gain in dB, or (Modify-Net) an MS-SSIM gain
            shown = f"  val {score:+.4f} MS-SSIM" if "ms_ssim" in str(val.get("metric", "")) else f"  val {score:+.3f} dB"
        click.echo(
            f"{e['name']:28s} #{e['container_id']:<3d} {e['arch']:10s} {slot['role']:4s} "
            f"{slot['codec']}/{slot['method']}" + (f" x1/{slot['scale']}" if slot.get("scale", 1) > 1 else "")
            + rng + shown + (f"  after {after}" if after else "") + ("  default" if is_default(e) else "")
        )
    from ..precision import native_bf16, post_precision, requested

    why = ("the CPU has native bfloat16" if native_bf16() else "no native bfloat16 on this CPU") \
        if requested() == "auto" else "LBCODEC_PRECISION"
    obj.log(f"post-filters compute in {post_precision()} here ({why}; --precision of decode, restore and bench "
            "overrides)")
