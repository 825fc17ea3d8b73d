"""The TextWorld game cache (each test failed before the fix): a game made by two processes at once is
made once; a process killed while making one leaves nothing half-written where games are looked for;
a half-written file found there (left by an older version) is made again, not loaded."""

import threading
import time

import pytest

from treecredit.envs import make_env
from treecredit.envs import textworld_cache as cache

textworld = pytest.importorskip("textworld")
TEXT = dict(rooms=1, objects=1, quest_length=1, pool=1, max_turns=4)
COMPACT = dict(TEXT, view="compact")


def _play(folder, options):
    env = make_env("textworld", cache_dir=str(folder), **options)
    try:
        return env.reset(0)
    finally:
        env.close()


@pytest.mark.parametrize("leftover", ["story", "json"])
def test_a_half_written_text_game_is_made_again(tmp_path, leftover):
    """A process killed while TextWorld wrote the game in place left a truncated .z8 (or .json); it was
    loaded as the game (and failed) by every later run."""
    name = "r1-o1-q1-g0"
    if leftover == "story":
        (tmp_path / f"{name}.z8").write_bytes(b"\x08" + bytes(200))  # the first bytes of a story file
    else:
        (tmp_path / f"{name}.json").write_text('{"world": [')
        (tmp_path / f"{name}.z8").write_bytes(b"\x08" + bytes(200))
    assert _play(tmp_path, TEXT)
    assert cache.whole(tmp_path / f"{name}.z8") and cache.whole(tmp_path / f"{name}.json")


def test_a_half_written_compact_game_is_made_again(tmp_path):
    (tmp_path / "compact-r1-o1-q1-g0.json").write_text('{"world": [')
    assert _play(tmp_path, COMPACT).startswith("goal: ")


def test_a_killed_generation_leaves_nothing_where_games_are_looked_for(tmp_path, monkeypatch):
    real = textworld.make

    def killed(options):
        with open(options.path, "wb") as handle:  # TextWorld's compiler writes the story file in place
            handle.write(b"\x08" + bytes(100))
        raise KeyboardInterrupt

    monkeypatch.setattr(textworld, "make", killed)
    with pytest.raises(KeyboardInterrupt):
        _play(tmp_path, TEXT)
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], [".r1-o1-q1-g0.lock"])
    monkeypatch.setattr(textworld, "make", real)
    assert _play(tmp_path, TEXT)


def test_two_processes_make_a_game_once_and_both_use_it(tmp_path, monkeypatch):
    """Two workers asking for the same game on an empty cache (threads with their own lock descriptors
    stand for processes: flock locks conflict between open files, also within one process)."""
    real, calls = textworld.make, []

    def slow_make(options):
        calls.append(options.path)
        time.sleep(0.5)  # widen the window in which the other one would start too
        return real(options)

    monkeypatch.setattr(textworld, "make", slow_make)
    start, seen, errors = threading.Barrier(2), [], []

    def worker():
        start.wait()
        try:
            seen.append(_play(tmp_path, TEXT))
        except Exception as error:  # (reported below)
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(seen) == 2 and seen[0] == seen[1]
    assert len(calls) == 1, calls
    assert not list(tmp_path.glob("*.partial"))


def test_left_over_partial_folders_are_removed_when_the_game_is_made(tmp_path):
    left = tmp_path / ".compact-r1-o1-q1-g0.abc.partial"
    left.mkdir()
    (left / "compact-r1-o1-q1-g0.json").write_text("{")
    _play(tmp_path, COMPACT)
    assert not left.exists()


def test_whole_reads_the_story_header():
    story = bytearray(512)
    story[0] = 8
    story[0x40:0x48] = b"\x01\x02\x03\x04\x05\x06\x07\x08"
    story[0x1A:0x1C] = (0x48 // 8).to_bytes(2, "big")
    story[0x1C:0x1E] = (36).to_bytes(2, "big")
    assert cache._whole_story(bytes(story))
    assert not cache._whole_story(bytes(story[:0x44]))  # shorter than its header says
    story[0x41] = 9
    assert not cache._whole_story(bytes(story))  # checksum
