"""Tests for bertvino.core.reviews: every input kind, labels, splits, skipping and streaming, on tiny data in tmp_path."""

import inspect
import re
import tarfile
from collections.abc import Iterator

import pytest

from bertvino.core.errors import BertvinoError
from bertvino.core.labels import SENTIMENT_LABELS, match_label
from bertvino.core.reviews import Review, read_reviews

# Review files of the little aclImdb tree, in the order we expect to read them: folder by folder, names sorted.
TREE_REVIEWS = {
    "test/neg/0_1.txt": ("Dull.<br /><br />Skip it.", "negative"),
    "test/pos/0_10.txt": ("A classic.", "positive"),
    "train/neg/0_2.txt": ("Bad<BR>film<br/>really.", "negative"),
    "train/pos/0_9.txt": ("Great film.", "positive"),
    "train/pos/1_7.txt": ("Good enough.", "positive"),
    "train/unsup/0_0.txt": ("Saw it once.", None),
}
# What aclImdb ships besides reviews; none of it may come out as a review.
TREE_EXTRAS = {
    "README": "Large Movie Review Dataset v1.0",
    "imdb.vocab": "the\nand\n",
    "imdbEr.txt": "0.0490972013402\n0.201363575849\n",
    "train/urls_pos.txt": "http://www.imdb.com/title/tt0453418/usercomments\n",
    "train/urls_unsup.txt": "http://www.imdb.com/title/tt0018515/usercomments\n",
    "train/labeledBow.feat": "9 0:9 1:1\n",
    "test/urls_neg.txt": "http://www.imdb.com/title/tt0064354/usercomments\n",
}


def clean(text):
    return text.replace("<br /><br />", "  ").replace("<BR>", " ").replace("<br/>", " ")


@pytest.fixture
def imdb_dir(tmp_path):
    root = tmp_path / "aclImdb"
    for rel, content in {**{k: v[0] for k, v in TREE_REVIEWS.items()}, **TREE_EXTRAS}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def imdb_archive(imdb_dir, tmp_path):
    archive = tmp_path / "data" / "aclImdb_v1.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(imdb_dir, arcname="aclImdb")  # adds in sorted name order, like the real download
    return archive


def collect():
    """An on_skip that remembers what it was told."""
    skipped = []
    return skipped, lambda source, reason: skipped.append((source, reason))


# --- directories -------------------------------------------------------------------------------------------------


def test_directory_reads_every_review_in_sorted_order_with_folder_labels(imdb_dir):
    reviews = list(read_reviews(imdb_dir))
    assert [r.source for r in reviews] == [str(imdb_dir / rel) for rel in TREE_REVIEWS]
    assert [r.label for r in reviews] == [label for _, label in TREE_REVIEWS.values()]
    assert [r.text for r in reviews] == [clean(text) for text, _ in TREE_REVIEWS.values()]
    assert all(isinstance(r, Review) for r in reviews)


def test_html_breaks_become_spaces(imdb_dir):
    texts = {r.source: r.text for r in read_reviews(imdb_dir)}
    assert texts[str(imdb_dir / "test/neg/0_1.txt")] == "Dull.  Skip it."
    assert texts[str(imdb_dir / "train/neg/0_2.txt")] == "Bad film really."


def test_directory_split(imdb_dir):
    train = list(read_reviews(imdb_dir, split="train"))
    assert [r.source for r in train] == [str(imdb_dir / rel) for rel in TREE_REVIEWS if rel.startswith("train/")]
    test = list(read_reviews(str(imdb_dir), split="test"))
    assert [r.label for r in test] == ["negative", "positive"]


def test_passing_a_pos_folder_itself_still_labels_it(imdb_dir):
    reviews = list(read_reviews(imdb_dir / "train" / "pos"))
    assert [r.label for r in reviews] == ["positive", "positive"]


def test_plain_folder_of_txt_files_is_unlabelled(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "b.txt").write_text("second")
    (tmp_path / "mine" / "a.txt").write_text("first")
    (tmp_path / "mine" / "notes.md").write_text("not a review")
    reviews = list(read_reviews(tmp_path / "mine"))
    assert [(r.text, r.label) for r in reviews] == [("first", None), ("second", None)]


def test_split_not_found_is_an_error(imdb_dir):
    with pytest.raises(BertvinoError, match=r"no reviews under a 'dev/' folder in .*aclImdb"):
        list(read_reviews(imdb_dir, split="dev"))


def test_directory_without_reviews_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BertvinoError, match=r"empty: no review \.txt files found"):
        list(read_reviews(tmp_path / "empty"))


def test_bad_files_are_skipped_through_on_skip(tmp_path):
    folder = tmp_path / "mine" / "pos"
    folder.mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"caf\xe9 was great")  # Latin-1, not UTF-8
    (folder / "b.txt").write_text("")
    (folder / "c.txt").write_text("Really good.")
    (folder / "d.txt").write_text(" <br /><br/> \n")  # nothing left once the breaks are gone
    skipped, on_skip = collect()
    reviews = list(read_reviews(tmp_path / "mine", on_skip=on_skip))
    assert [(r.text, r.label) for r in reviews] == [("Really good.", "positive")]
    assert skipped == [
        (str(folder / "a.txt"), "not UTF-8"),
        (str(folder / "b.txt"), "empty review"),
        (str(folder / "d.txt"), "empty review"),
    ]


def test_bad_file_without_on_skip_raises_naming_it(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(BertvinoError, match=r"a\.txt: not UTF-8"):
        list(read_reviews(tmp_path))


# --- archives ----------------------------------------------------------------------------------------------------


def test_archive_gives_the_same_reviews_with_member_sources(imdb_archive, imdb_dir):
    from_archive = list(read_reviews(imdb_archive))
    from_folder = list(read_reviews(imdb_dir))
    assert [r.source for r in from_archive] == [f"{imdb_archive}/aclImdb/{rel}" for rel in TREE_REVIEWS]
    assert [(r.text, r.label) for r in from_archive] == [(r.text, r.label) for r in from_folder]
    assert from_archive[1].source.endswith("data/aclImdb_v1.tar.gz/aclImdb/test/pos/0_10.txt")


def test_archive_split(imdb_archive):
    train = list(read_reviews(imdb_archive, split="train"))
    assert [r.source.split("aclImdb/", 2)[-1] for r in train] == [r for r in TREE_REVIEWS if r.startswith("train/")]
    assert [r.label for r in train] == ["negative", "positive", "positive", None]
    test = list(read_reviews(imdb_archive, split="test"))
    assert [(r.text, r.label) for r in test] == [("Dull.  Skip it.", "negative"), ("A classic.", "positive")]
    with pytest.raises(BertvinoError, match=r"no reviews under a 'valid/' folder in .*aclImdb_v1\.tar\.gz"):
        list(read_reviews(imdb_archive, split="valid"))


def test_archive_is_streamed_not_opened_for_random_access(imdb_archive, monkeypatch):
    modes = []
    real_open = tarfile.open

    def spy(*args, **kwargs):
        modes.append(args[1] if len(args) > 1 else kwargs.get("mode"))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(tarfile, "open", spy)
    assert len(list(read_reviews(imdb_archive))) == len(TREE_REVIEWS)
    assert modes == ["r|*"]


def test_truncated_archive_is_an_error_naming_it(imdb_archive, tmp_path):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(imdb_archive.read_bytes()[:200])
    with pytest.raises(BertvinoError, match=r"broken\.tar\.gz"):
        list(read_reviews(broken))


# --- CSV ---------------------------------------------------------------------------------------------------------

CSV_TEXT = (
    "id,Review,Sentiment\n"
    '1,"Loved it,\ntruly<br />a gem",POS\n'
    '2,"Hated ""it""",0\n'
    '3,"",positive\n'
    "4,Fine film,\n"
    "5,Meh, Negative \n"
)


def test_csv_with_multiline_quotes_and_label_aliases(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    skipped, on_skip = collect()
    reviews = list(read_reviews(path, on_skip=on_skip))
    assert reviews == [
        Review(f"{path}:1", "Loved it,\ntruly a gem", "POS"),  # labels as written: the model decides what they mean
        Review(f"{path}:2", 'Hated "it"', "0"),
        Review(f"{path}:4", "Fine film", None),
        Review(f"{path}:5", "Meh", "Negative"),
    ]
    assert [match_label(r.label, SENTIMENT_LABELS) for r in reviews] == ["positive", "negative", None, "negative"]
    assert skipped == [(f"{path}:3", "empty review (line 5)")]  # row 1 spans two lines


def test_csv_prefers_text_over_review_and_handles_a_bom(tmp_path):
    path = tmp_path / "both.csv"
    path.write_bytes("\ufeffreview,TEXT,label\nignored,used,true\n".encode("utf-8"))
    assert list(read_reviews(path)) == [Review(f"{path}:1", "used", "true")]


def test_csv_without_text_column_lists_the_header(tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("id,body,label\n1,hello,pos\n")
    with pytest.raises(BertvinoError, match=r"wrong\.csv: no text column .*'id', 'body', 'label'"):
        list(read_reviews(path))


def test_csv_row_with_bad_bytes_is_skipped(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"text\ncaf\xe9\nfine\n")
    skipped, on_skip = collect()
    assert [r.text for r in read_reviews(path, on_skip=on_skip)] == ["fine"]
    assert skipped == [(f"{path}:1", "not UTF-8 (line 2)")]


def test_split_on_csv_or_jsonl_is_an_error_at_once(tmp_path):
    for name in ("reviews.csv", "reviews.jsonl"):
        (tmp_path / name).write_text("text\nhello\n")
        with pytest.raises(BertvinoError, match=rf"{name}: split='train' can't be applied"):
            read_reviews(tmp_path / name, split="train")


# --- JSONL -------------------------------------------------------------------------------------------------------


def write_jsonl(tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_text(
        '{"text": "One<br />two", "label": 1}\n'
        "\n"
        "{not json\n"
        '{"Sentence": "Nope", "polarity": "neg"}\n'
        '{"text": ""}\n'
        "[1, 2]\n"
        '{"review": "No label here", "label": null}\n'
        '{"title": "no text"}\n',
        encoding="utf-8",
    )
    return path


def test_jsonl_skips_blank_lines_and_reports_bad_ones(tmp_path):
    path = write_jsonl(tmp_path)
    skipped, on_skip = collect()
    reviews = list(read_reviews(path, on_skip=on_skip))
    assert reviews == [
        Review(f"{path}:1", "One two", "1"),
        Review(f"{path}:4", "Nope", "neg"),
        Review(f"{path}:7", "No label here", None),
    ]
    assert [source for source, _ in skipped] == [f"{path}:3", f"{path}:5", f"{path}:6", f"{path}:8"]
    assert skipped[0][1].startswith("invalid JSON: ")
    assert [reason for _, reason in skipped[1:]] == ["empty review", "not a JSON object", "no text field"]


def test_jsonl_bad_line_without_on_skip_raises(tmp_path):
    path = write_jsonl(tmp_path)
    with pytest.raises(BertvinoError, match=r"reviews\.jsonl:3: invalid JSON"):
        list(read_reviews(path))


@pytest.mark.parametrize(
    "value, expected",
    [
        ('"positive"', "positive"), ('" Pos "', "positive"), ('"1"', "positive"), ("1", "positive"),
        ("true", "positive"), ('"TRUE"', "positive"),
        ('"NEGATIVE"', "negative"), ('"neg"', "negative"), ('"0"', "negative"), ("0", "negative"),
        ("false", "negative"),
        ('""', None), ('"  "', None), ("null", None),
    ],
)
def test_label_spellings(tmp_path, value, expected):
    path = tmp_path / "one.ndjson"
    path.write_text(f'{{"text": "x", "sentiment": {value}}}\n')
    assert [match_label(r.label, SENTIMENT_LABELS) for r in read_reviews(path)] == [expected]


def test_any_label_passes_through_as_written(tmp_path):
    """Labels are the data's: three classes, or labels no sentiment model knows, are read as they are."""
    path = tmp_path / "topics.csv"
    path.write_text('text,label\nfine,sports\n"two\nlines",Politics \nhmm,2\n')
    assert [(r.text, r.label) for r in read_reviews(path)] == [("fine", "sports"), ("two\nlines", "Politics"),
                                                                ("hmm", "2")]
    jsonl = tmp_path / "topics.jsonl"
    jsonl.write_text('{"text": "a", "label": 3}\n{"text": "b", "label": true}\n')
    assert [r.label for r in read_reviews(jsonl)] == ["3", "true"]


def test_folders_below_the_one_given_name_labels(tmp_path):
    for label, name in (("sports", "a"), ("politics", "b"), ("tech", "c")):
        (tmp_path / "news" / "train" / label).mkdir(parents=True)
        (tmp_path / "news" / "train" / label / f"{name}.txt").write_text(f"about {label}")
    (tmp_path / "news" / "train" / "loose.txt").write_text("in the split folder itself")
    reviews = list(read_reviews(tmp_path / "news", split="train"))
    assert [(r.text, r.label) for r in reviews] == [("in the split folder itself", None),
                                                    ("about politics", "politics"), ("about sports", "sports"),
                                                    ("about tech", "tech")]


# --- single files, several paths, bad paths ----------------------------------------------------------------------


def test_single_txt_file_is_one_review_labelled_by_its_folder(imdb_dir):
    path = imdb_dir / "test" / "neg" / "0_1.txt"
    assert list(read_reviews(path)) == [Review(str(path), "Dull.  Skip it.", "negative")]


def test_several_paths_are_read_in_the_order_given(imdb_dir, tmp_path):
    csv_path = tmp_path / "extra.csv"
    csv_path.write_text("text\nfrom csv\n")
    txt_path = imdb_dir / "train" / "pos" / "0_9.txt"
    reviews = list(read_reviews([csv_path, str(txt_path)]))
    assert [r.source for r in reviews] == [f"{csv_path}:1", str(txt_path)]


def test_missing_path_fails_at_once_naming_it(imdb_dir, tmp_path):
    missing = tmp_path / "nowhere" / "aclImdb_v1.tar.gz"
    with pytest.raises(BertvinoError, match=rf"^{re.escape(str(missing))}: no such file or directory$"):
        read_reviews([imdb_dir, missing])  # raised by the call itself, before any review is read


def test_unsupported_file_type_is_an_error(tmp_path):
    path = tmp_path / "reviews.docx"
    path.write_bytes(b"PK")
    with pytest.raises(BertvinoError, match=r"reviews\.docx: unsupported input"):
        read_reviews(path)


def test_no_paths_is_an_error():
    with pytest.raises(BertvinoError, match="no input paths"):
        read_reviews([])


# --- streaming ---------------------------------------------------------------------------------------------------


def test_read_reviews_is_lazy(tmp_path):
    path = tmp_path / "stream.csv"
    path.write_text("text,label\nfirst,pos\nsecond,bogus\n")
    reviews = read_reviews(path)
    assert isinstance(reviews, Iterator) and inspect.isgenerator(reviews)
    assert next(reviews) == Review(f"{path}:1", "first", "pos")
    assert next(reviews) == Review(f"{path}:2", "second", "bogus")

