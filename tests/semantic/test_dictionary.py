"""README's metric dictionary is generated from the semantic manifest, never edited by hand."""

from __future__ import annotations

from dagster_project.metrics import (
    DICTIONARY_END,
    DICTIONARY_START,
    README,
    dictionary_markdown,
    load_semantic_manifest,
    main,
    readme_with_dictionary,
)


def test_readme_metric_dictionary_equals_the_one_generated_from_the_semantic_manifest(dbt_manifest):
    readme = README.read_text()
    assert readme_with_dictionary(readme, dictionary_markdown(load_semantic_manifest())) == readme, (
        "README.md's metric dictionary is stale: run `python -m dagster_project.metrics dictionary`")


def test_dictionary_has_a_row_per_metric_with_its_numerator_and_denominator(dbt_manifest):
    manifest = load_semantic_manifest()
    metric_table = dictionary_markdown(manifest).split("\n\n")[0].splitlines()[2:]
    metric_rows = {line.split(" | ")[0].strip("| `"): line for line in metric_table}
    assert len(metric_rows) == len(metric_table) == len(manifest["metrics"]) == 57
    assert set(metric_rows) == {m["name"] for m in manifest["metrics"]}
    engagement_rate = metric_rows["engagement_rate"].split(" | ")
    assert engagement_rate[3:6] == ["`engaged_sessions`", "`sessions`", "`fct_web_engagement_daily.engagement_rate`"]


def test_check_fails_when_the_readme_dictionary_was_edited_by_hand(dbt_manifest, tmp_path, monkeypatch, capsys):
    readme = README.read_text()
    start = readme.index(DICTIONARY_START) + len(DICTIONARY_START)
    edited = tmp_path / "README.md"
    edited.write_text(readme[:start] + "\n| `hand_made` | edited by hand |" + readme[start:])
    monkeypatch.setattr("dagster_project.metrics.README", edited)
    assert main(["dictionary", "--check"]) == 1
    assert "python -m dagster_project.metrics dictionary" in capsys.readouterr().err
    assert main(["dictionary"]) == 0
    assert main(["dictionary", "--check"]) == 0
    assert edited.read_text().count(DICTIONARY_END) == 1
