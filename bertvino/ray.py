"""bertvino on Ray, for people who already hold a Ray Dataset:

    import ray, bertvino.ray
    labelled = bertvino.ray.classify_dataset(ray.data.read_parquet("s3://bucket/reviews/"), model="my-model")

adds `label` and `p_<label>` columns, classified by a pool of actors that each compile the model once. The
command-line equivalent for review files is `bertvino score PATH... --ray`. Needs the ray extra
(pip install 'bertvino[ray]'). The work lives in `bertvino.infer.ray_scoring`; this module only names it.
"""

from bertvino.infer.ray_scoring import bundle_source, classify_dataset

__all__ = ["bundle_source", "classify_dataset"]
