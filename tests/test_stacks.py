"""Stack groups from file names: RAW+JPEG pairs and the bursts of common phones and
cameras, one folder at a time, each file in one stack at most."""

from __future__ import annotations

import pytest

from immich_backupd.media.stacks import (
    KnownStack,
    StackKind,
    StackRequest,
    by_asset,
    parse_burst,
    stack_requests,
    stacks_in_folder,
)


def groups(names, **kw) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(g.kind.value, g.cover, g.members) for g in stacks_in_folder(names, **kw)]


def test_raw_and_jpeg_with_the_same_stem():
    names = ["IMG_1234.CR2", "IMG_1234.JPG", "IMG_1235.JPG", "IMG_1236.NEF", "notes.txt",
             "IMG_1234.JPG.xmp", "IMG_1237.ARW", "img_1237.jpg", "IMG_1238.HEIC", "IMG_1238.MOV"]
    assert groups(names) == [
        ("raw_jpeg", "IMG_1234.JPG", ("IMG_1234.JPG", "IMG_1234.CR2")),
        ("raw_jpeg", "img_1237.jpg", ("img_1237.jpg", "IMG_1237.ARW")),  # case folds
    ]


def test_iphone_proraw_and_the_jpeg_before_the_heic():
    assert groups(["IMG_0001.DNG", "IMG_0001.HEIC"]) == [
        ("raw_jpeg", "IMG_0001.HEIC", ("IMG_0001.HEIC", "IMG_0001.DNG"))]
    assert groups(["DSCF0001.RAF", "DSCF0001.HIF", "DSCF0001.JPG"]) == [
        ("raw_jpeg", "DSCF0001.JPG", ("DSCF0001.JPG", "DSCF0001.HIF", "DSCF0001.RAF"))]


def test_no_stack_without_both_halves_or_for_videos_and_other_images():
    assert groups(["a.CR2", "a.NEF", "b.jpg", "b.heic", "c.mov", "c.jpg", "d.png", "d.dng",
                   "e.tif", "e.jpg"]) == []


def test_switched_off():
    assert groups(["IMG_1234.CR2", "IMG_1234.JPG"], raw_jpeg=False) == []


def test_the_server_image_types_decide_what_is_considered():
    only_jpeg = frozenset({".jpg"})
    assert groups(["IMG_1234.CR2", "IMG_1234.JPG"], images=only_jpeg) == []


@pytest.mark.parametrize(("names", "cover"), [
    # Huawei / Honor / Xiaomi
    (["IMG_20231014_183246_BURST002.jpg", "IMG_20231014_183246_BURST001_COVER.jpg",
      "IMG_20231014_183246_BURST003.jpg"], "IMG_20231014_183246_BURST001_COVER.jpg"),
    # older Samsung spelling
    (["20160730_101500_Burst02.jpg", "20160730_101500_Burst01.jpg"],
     "20160730_101500_Burst01.jpg"),
    # Google Camera on Nexus / early Pixel, with the cover in the middle of the burst
    (["00000IMG_00000_BURST20171111030039.jpg", "00001IMG_00001_BURST20171111030039.jpg",
      "00015IMG_00015_BURST20171111030039_COVER.jpg"],
     "00015IMG_00015_BURST20171111030039_COVER.jpg"),
    (["00100PORTRAIT_00100_BURST20181229213517346_COVER.jpg",
      "00000PORTRAIT_00000_BURST20181229213517346.jpg"],
     "00100PORTRAIT_00100_BURST20181229213517346_COVER.jpg"),
    # Sony Xperia
    (["DSC_0001_BURST20230709220904977.JPG", "DSC_0052_BURST20230709220904977_COVER.JPG"],
     "DSC_0052_BURST20230709220904977_COVER.JPG"),
    # Samsung One UI: no cover marked, the first is the cover
    (["20231207_101605_002.jpg", "20231207_101605_001.jpg", "20231207_101605_031.jpg"],
     "20231207_101605_001.jpg"),
    # Pixel Top Shot and long exposure
    (["PXL_20230330_184138390.MOTION-02.ORIGINAL.jpg",
      "PXL_20230330_184138390.MOTION-01.COVER.jpg"],
     "PXL_20230330_184138390.MOTION-01.COVER.jpg"),
    (["PXL_20230809_203029471.LONG_EXPOSURE-01.COVER.jpg",
      "PXL_20230809_203029471.LONG_EXPOSURE-02.ORIGINAL.jpg"],
     "PXL_20230809_203029471.LONG_EXPOSURE-01.COVER.jpg"),
])
def test_bursts(names, cover):
    found = stacks_in_folder([*names, "IMG_9999.jpg"], bursts=True)
    assert len(found) == 1
    group = found[0]
    assert group.kind is StackKind.BURST and group.cover == cover
    assert sorted(group.members) == sorted(names) and group.members[0] == cover
    assert stacks_in_folder(names) == []  # bursts are off by default


def test_two_bursts_in_one_folder_stay_apart_and_a_lone_burst_file_is_no_stack():
    names = ["IMG_20231014_183246_BURST001_COVER.jpg", "IMG_20231014_183246_BURST002.jpg",
             "IMG_20231014_183300_BURST001_COVER.jpg", "IMG_20231014_183300_BURST002.jpg",
             "IMG_20231014_190000_BURST001_COVER.jpg", "20231207_101605_001.jpg"]
    found = stacks_in_folder(names, bursts=True)
    assert [g.members for g in found] == [
        ("IMG_20231014_183246_BURST001_COVER.jpg", "IMG_20231014_183246_BURST002.jpg"),
        ("IMG_20231014_183300_BURST001_COVER.jpg", "IMG_20231014_183300_BURST002.jpg"),
    ]
    assert len({g.key for g in found}) == 2


def test_pixel_raw_pair_is_raw_jpeg():
    names = ["PXL_20240615_204528165.NIGHT.RAW-02.ORIGINAL.dng",
             "PXL_20240615_204528165.NIGHT.RAW-01.COVER.jpg",
             "PXL_20231207_032111247.RAW-01.COVER.jpg",
             "PXL_20231207_032111247.RAW-02.ORIGINAL.dng"]
    assert groups(names) == [
        ("raw_jpeg", "PXL_20231207_032111247.RAW-01.COVER.jpg",
         ("PXL_20231207_032111247.RAW-01.COVER.jpg", "PXL_20231207_032111247.RAW-02.ORIGINAL.dng")),
        ("raw_jpeg", "PXL_20240615_204528165.NIGHT.RAW-01.COVER.jpg",
         ("PXL_20240615_204528165.NIGHT.RAW-01.COVER.jpg",
          "PXL_20240615_204528165.NIGHT.RAW-02.ORIGINAL.dng")),
    ]
    assert groups(names, raw_jpeg=False, bursts=True) == []


@pytest.mark.parametrize("jpeg", [
    "PXL_20240101_101010101.RAW-01.MP.COVER.jpg",  # Motion Photo on: the Pixel's default
    "PXL_20240101_101010101.RAW-01.jpg",  # no role at all
    "PXL_20240101_101010101.NIGHT.RAW-01.MP.COVER.jpg",
])
def test_pixel_raw_pair_with_motion_photo_or_without_a_role(jpeg):
    raw = "PXL_20240101_101010101.RAW-02.ORIGINAL.dng"
    if ".NIGHT." in jpeg:
        raw = "PXL_20240101_101010101.NIGHT.RAW-02.ORIGINAL.dng"
    assert groups([raw, jpeg, "PXL_20240101_101010101.MP.jpg"]) == [
        ("raw_jpeg", jpeg, (jpeg, raw))]
    assert parse_burst(jpeg).is_cover == ("COVER" in jpeg)


def test_pixel_motion_bursts_with_several_roles():
    names = ["PXL_20230330_184138390.MOTION-02.ORIGINAL.jpg",
             "PXL_20230330_184138390.MOTION-01.MP.COVER.jpg",
             "PXL_20230330_184138390.MOTION-03.jpg"]
    found = stacks_in_folder(names, bursts=True)
    assert [(g.kind, g.members) for g in found] == [
        (StackKind.BURST, ("PXL_20230330_184138390.MOTION-01.MP.COVER.jpg",
                           "PXL_20230330_184138390.MOTION-02.ORIGINAL.jpg",
                           "PXL_20230330_184138390.MOTION-03.jpg"))]


def test_a_burst_takes_its_raw_files_and_each_file_is_in_one_stack():
    names = ["IMG_20231014_183246_BURST001_COVER.jpg", "IMG_20231014_183246_BURST001_COVER.dng",
             "IMG_20231014_183246_BURST002.jpg", "IMG_20231014_183246_BURST002.dng"]
    burst = stacks_in_folder(names, bursts=True)
    assert len(burst) == 1 and burst[0].cover == "IMG_20231014_183246_BURST001_COVER.jpg"
    assert sorted(burst[0].members) == sorted(names)
    pairs = stacks_in_folder(names, bursts=False)  # without bursts: the pairs inside
    assert [(g.kind, g.members) for g in pairs] == [
        (StackKind.RAW_JPEG, ("IMG_20231014_183246_BURST001_COVER.jpg",
                              "IMG_20231014_183246_BURST001_COVER.dng")),
        (StackKind.RAW_JPEG, ("IMG_20231014_183246_BURST002.jpg",
                              "IMG_20231014_183246_BURST002.dng")),
    ]


APPLE = "6C0F2A5E-3B1D-4F8A-9C7E-2D4B8A1F0E93"


def test_apple_bursts_by_the_id_read_from_the_files_the_first_by_name_on_top():
    """An iPhone names burst frames like any photo; the id inside says which belong
    together. Apple marks no cover in the file: the first frame (by name) is it."""
    names = ["IMG_0103.JPG", "IMG_0101.HEIC", "IMG_0102.HEIC", "IMG_0104.HEIC",
             "IMG_0105.HEIC", "IMG_0106.HEIC", "IMG_0106.DNG"]
    ids = {"IMG_0103.JPG": APPLE, "IMG_0101.HEIC": APPLE, "IMG_0102.HEIC": APPLE,
           "IMG_0104.HEIC": "OTHER-BURST", "IMG_0105.HEIC": "", "IMG_0106.HEIC": ""}
    found = stacks_in_folder(names, bursts=True, burst_ids=ids)
    assert [(g.kind, g.key, g.cover, g.members) for g in found] == [
        (StackKind.BURST, f"apple:{APPLE.lower()}", "IMG_0101.HEIC",
         ("IMG_0101.HEIC", "IMG_0102.HEIC", "IMG_0103.JPG")),  # a lone frame: no stack
        (StackKind.RAW_JPEG, "raw:img_0106", "IMG_0106.HEIC", ("IMG_0106.HEIC", "IMG_0106.DNG")),
    ]
    # Without bursts the ids change nothing.
    assert [g.kind for g in stacks_in_folder(names, burst_ids=ids)] == [StackKind.RAW_JPEG]


def test_a_name_that_marks_a_burst_wins_over_an_apple_id_and_raw_files_take_none():
    names = ["IMG_20231014_183246_BURST001_COVER.jpg", "IMG_20231014_183246_BURST002.jpg",
             "IMG_0200.CR2", "IMG_0201.CR2"]
    ids = dict.fromkeys(names, APPLE)
    found = stacks_in_folder(names, bursts=True, burst_ids=ids)
    assert [(g.key, g.members) for g in found] == [
        ("burst:img_20231014_183246", ("IMG_20231014_183246_BURST001_COVER.jpg",
                                       "IMG_20231014_183246_BURST002.jpg"))]


@pytest.mark.parametrize("name", [
    "IMG_1234.JPG", "20231207_101605.jpg", "PXL_20231207_032111247.jpg",
    "PXL_20231207_032111247.MP.jpg", "BURST.jpg", "IMG_20231014_183246_BURST.jpg",
    "2023120_101605_001.jpg",
])
def test_names_that_are_no_burst(name):
    assert parse_burst(name) is None


def test_keys_are_stable_and_folder_local():
    a = stacks_in_folder(["IMG_1.JPG", "IMG_1.CR2"])[0]
    b = stacks_in_folder(["img_1.cr2", "img_1.jpg", "other.jpg"])[0]
    assert a.key == b.key == "raw:img_1"


RAW_PAIR = stacks_in_folder(["IMG_1.JPG", "IMG_1.CR2"])
BURST = stacks_in_folder(["20231207_101605_001.jpg", "20231207_101605_002.jpg",
                          "20231207_101605_003.jpg"], bursts=True)


def test_a_group_is_stacked_once_its_cover_and_another_file_are_up():
    key = RAW_PAIR[0].key
    assert stack_requests(RAW_PAIR, {"IMG_1.CR2": "r"}, {}) == []  # no cover yet
    assert stack_requests(RAW_PAIR, {"IMG_1.JPG": "j"}, {}) == []  # alone
    assert stack_requests(RAW_PAIR, {"IMG_1.JPG": "j", "IMG_1.CR2": "r"}, {}) == [
        StackRequest(key, ("j", "r"), None)]


def test_a_known_stack_is_never_sent_again():
    known = by_asset([KnownStack("s1", "j", frozenset({"j", "r"}))])
    assert stack_requests(RAW_PAIR, {"IMG_1.JPG": "j", "IMG_1.CR2": "r"}, known) == []
    # a file deleted from the folder changes nothing on the server
    assert stack_requests(RAW_PAIR, {"IMG_1.JPG": "j"}, known) == []


def test_a_known_stack_is_found_by_its_files_ids_wherever_they_are_named():
    """A folder renamed: its files keep their server ids and the stack they are in,
    whatever the folder or the group's key; re-sending would replace the stack."""
    known = by_asset([KnownStack("s1", "j", frozenset({"j", "r"}))])
    renamed = stacks_in_folder(["img_1.jpg", "img_1.cr2"])
    assert stack_requests(renamed, {"img_1.jpg": "j", "img_1.cr2": "r"}, known) == []


def test_a_late_file_remakes_the_stack_with_all_which_replaces_the_old():
    key = BURST[0].key
    first = {"20231207_101605_001.jpg": "a", "20231207_101605_003.jpg": "c"}
    assert stack_requests(BURST, first, {}) == [StackRequest(key, ("a", "c"), None)]
    known = by_asset([KnownStack("s1", "a", frozenset({"a", "c"}))])
    later = {**first, "20231207_101605_002.jpg": "b"}
    assert stack_requests(BURST, later, known) == [
        StackRequest(key, ("a", "b", "c"), "s1", known=True)]


def test_a_cover_uploaded_again_under_a_new_id_does_not_replace_the_old_stack():
    key = RAW_PAIR[0].key
    known = by_asset([KnownStack("s1", "j-old", frozenset({"j-old", "r"}))])
    assert stack_requests(RAW_PAIR, {"IMG_1.JPG": "j-new", "IMG_1.CR2": "r"}, known) == [
        StackRequest(key, ("j-new", "r"), None, known=True)]


def test_the_missing_permission_advice_names_each_switch_that_is_on():
    from immich_backupd.config import StackSettings
    from immich_backupd.pipeline.stacking import switch_off
    assert switch_off(StackSettings()) == "backup.stacks.raw_jpeg: false"
    assert switch_off(StackSettings(raw_jpeg=False, bursts=True)) == "backup.stacks.bursts: false"
    assert switch_off(StackSettings(bursts=True)) == (
        "backup.stacks.raw_jpeg: false and backup.stacks.bursts: false")
