"""`bertvino soup`: fine-tuned checkpoints averaged, weight by weight, into one that freeze reads."""

import json

import numpy as np

import checkpoints
from bertvino.cli import main
from bertvino.core.bundle import load_bundle
from bertvino.train.checkpoint import load_variable, variable_shapes

HEAD = ("output_weights", "output_bias")


def _weights(prefix) -> dict:
    return {name: load_variable(prefix, name) for name in variable_shapes(prefix)
            if name.startswith(("bert/", *HEAD)) and "adam" not in name}


def test_the_soup_is_the_mean_of_its_ingredients_and_freezes(tmp_path, capsys):
    from bertvino.convert.freeze import freeze

    from bertvino.train.run_files import write_train_info

    ingredients = [checkpoints.make_finetuned(tmp_path / f"run{seed}", seed=seed) for seed in (1, 2, 3)]
    for seed in (1, 2, 3):
        write_train_info(tmp_path / f"run{seed}", {"labels": ["negative", "positive"], "seed": 12345,
                                                   "extra_repeat": seed})
    assert main(["soup", *ingredients, "-o", str(tmp_path / "soup")]) == 0
    assert "Averaged 3 checkpoints" in capsys.readouterr().out
    soup = _weights(str(tmp_path / "soup" / "bert_model.ckpt"))
    each = [_weights(prefix) for prefix in ingredients]
    assert sorted(soup) == sorted(each[0])
    for name, value in soup.items():
        np.testing.assert_allclose(value, np.mean([weights[name] for weights in each], axis=0), rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    # the random ingredients differ in their weight matrices (LayerNorms start at ones and zeros), so the mean is new
    assert not np.array_equal(soup["output_weights"], each[0]["output_weights"])
    info = json.loads((tmp_path / "soup" / "train_info.json").read_text())
    assert [entry["checkpoint"] for entry in info["soup"]] == ingredients
    # what the runs shared describes the soup; what differed is each ingredient's, never the first run's alone
    assert {key: info[key] for key in ("labels", "seed")} == {"labels": ["negative", "positive"], "seed": 12345}
    assert "extra_repeat" not in info and [entry["extra_repeat"] for entry in info["soup"]] == [1, 2, 3]

    bundle = load_bundle(freeze(str(tmp_path / "soup"), tmp_path / "bundle", max_seq_length=32), require_ir=False)
    np.testing.assert_allclose(bundle.head()[0], soup["output_weights"], atol=1e-7)


def test_one_checkpoint_or_another_model_is_refused_in_one_line(tmp_path, capsys):
    first = checkpoints.make_finetuned(tmp_path / "run1", seed=1)
    assert main(["soup", first, "-o", str(tmp_path / "soup")]) == 1
    assert "at least two" in capsys.readouterr().err

    wider = checkpoints.make_finetuned(tmp_path / "wider", config={**checkpoints.TINY_CONFIG, "intermediate_size": 48})
    assert main(["soup", first, wider, "-o", str(tmp_path / "soup")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not the same BERT config" in err and "wider" in err
    assert not (tmp_path / "soup").exists()
