"""A synthetic, deterministic photo library in the style of IMM's File (seeds 000 and 002), for SemanticQuery.

Why synthetic: SemanticQuery is judged on conditions (time, place, label) that a real photo dataset would need hand
labels for. Here every file is built from explicit tables, so which files satisfy "2023 年杭州的风景" is known
exactly, and ``bench/data/semantic_queries.json`` can name the conditions a correct parser must produce.

Shape (what the IMM workflows would have computed and a caller gives BatchIndexFileMeta):

- ``URI`` ``s3://sift-photos/<date>-<place>-<nn>.jpg`` (``.mp4`` for videos: every tenth file but the scanned prints,
  ``MediaType`` video);
- ``Labels``: per label two entries, ``zh-Hans`` and ``en``, each with ``LabelName``, ``ParentLabelName``,
  ``LabelConfidence`` and ``LabelLevel`` (风景/scenery → 自然/nature, 火锅/hotpot → 美食/food, ...);
- ``Addresses``: one ``zh-Hans`` and one ``en`` address (Country, Province, City, District, Township, AddressLine)
  for 杭州, 北京, 上海, 成都, 三亚, 巴黎 and 罗马; home photos have none;
- ``ProduceTime``: RFC 3339 with the place's offset (+08:00 in China, +01:00/+02:00 in Europe), 2018 to 2025;
  a few scanned photos have none. Two files sit on a year boundary whose UTC time falls in the other year
  (``2023-01-01T07:00+08:00`` is 2022 in UTC, ``2024-01-01T00:30+08:00`` is 2023 in UTC): SemanticQuery compares
  wall-clock times, so they belong to 2023 and 2024 respectively;
- ``Insights``: an image (or video) caption in Chinese and a description in English that say what the labels say;
- ``Title``, ``LatLong``, ``ContentType`` and image or video sizes.

Vocabulary rules the tables keep, so that the labelled queries stay unambiguous: no label is a substring of a place
value and no place value contains a label (English addresses say "Road", never "Street" or "Lake"); labels do not
contain each other except where a parent label is also a label of its own (美食/food, 花卉/flower); the places the
queries name as absent (东京/Tokyo, 纽约/New York, ...) appear nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

BUCKET: Final = "sift-photos"
# The fixed "now" of relative expressions (去年夏天, last month, 今年 ...) in the benchmark's labelled queries.
NOW: Final = datetime(2025, 11, 21, 12, 0, 0)
VIDEO_EVERY: Final = 10  # every tenth file (index 9, 19, ...) is a video, unless it is a scanned print


@dataclass(frozen=True, slots=True)
class Label:
    zh: str
    en: str
    parent_zh: str
    parent_en: str


LABELS: Final[dict[str, Label]] = {
    "scenery": Label("风景", "scenery", "自然", "nature"),
    "lake": Label("湖泊", "lake", "自然", "nature"),
    "mountain": Label("山峰", "mountain", "自然", "nature"),
    "beach": Label("海滩", "beach", "自然", "nature"),
    "snow": Label("雪景", "snow", "天气", "weather"),
    "sunset": Label("日落", "sunset", "天空", "sky"),
    "flower": Label("花卉", "flower", "植物", "plant"),
    "lotus": Label("荷花", "lotus", "花卉", "flower"),
    "tea": Label("茶园", "tea garden", "农业", "agriculture"),
    "temple": Label("寺庙", "temple", "建筑", "architecture"),
    "landmark": Label("地标", "landmark", "建筑", "architecture"),
    "night": Label("夜景", "night view", "城市风光", "cityscape"),
    "food": Label("美食", "food", "餐饮", "dining"),
    "hotpot": Label("火锅", "hotpot", "美食", "food"),
    "coffee": Label("咖啡", "coffee", "饮品", "drink"),
    "cat": Label("猫", "cat", "动物", "animal"),
    "dog": Label("狗", "dog", "动物", "animal"),
    "portrait": Label("人像", "portrait", "人物", "people"),
}


@dataclass(frozen=True, slots=True)
class Scene:
    """What one photo shows: its labels and what a captioning model would say about it."""

    labels: tuple[str, ...]
    caption_zh: str
    description_en: str


SCENES: Final[dict[str, Scene]] = {
    "lake": Scene(("scenery", "lake"), "平静的湖面倒映着远处的群山和柳树。", "A calm lake reflecting distant hills and willows."),
    "hills": Scene(("scenery", "mountain"), "层层叠叠的山峰笼罩在薄雾中。", "Layered mountain ridges wrapped in light mist."),
    "view": Scene(("scenery",), "开阔的自然风景，蓝天白云。", "Open scenery under a blue sky with white clouds."),
    "snowy_view": Scene(("scenery", "snow"), "白雪覆盖的风景，树枝上挂满积雪。", "Scenery covered in snow, branches heavy with it."),
    "snow": Scene(("snow",), "大雪过后的庭院一片洁白。", "A courtyard all white after heavy snow."),
    "snowy_temple": Scene(("temple", "snow"), "雪中的古寺，红墙映着白雪。", "An old temple in the snow, red walls against white."),
    "snowy_landmark": Scene(("landmark", "snow"), "雪后的地标建筑，游人稀少。", "A landmark after snowfall with few visitors."),
    "sunset": Scene(("sunset",), "夕阳西下，天边一片橙红。", "The sun setting in an orange-red sky."),
    "beach": Scene(("beach",), "细软的白色沙滩和清澈的海水。", "A beach of fine white sand and clear water."),
    "beach_sunset": Scene(("beach", "sunset"), "海滩上的日落，游客在看晚霞。", "Sunset over the beach, people watching the glow."),
    "flower": Scene(("flower",), "盛开的花卉，色彩鲜艳。", "Flowers in full bloom, bright colours."),
    "lotus": Scene(("lotus",), "池塘里盛开的荷花和荷叶。", "Lotus blossoms and leaves on a pond."),
    "tea": Scene(("tea",), "绿油油的茶园沿着山坡排列。", "Rows of green tea bushes along a slope."),
    "temple": Scene(("temple",), "香火旺盛的寺庙，有很多游客。", "A busy temple with incense smoke and many tourists."),
    "landmark": Scene(("landmark",), "著名的地标建筑前人来人往。", "Crowds passing in front of a famous landmark."),
    "landmark_sunset": Scene(("landmark", "sunset"), "夕阳下的地标建筑剪影。", "A landmark silhouetted against the sunset."),
    "night": Scene(("night",), "灯火通明的城市夜景。", "A brightly lit night view of the city."),
    "food": Scene(("food",), "一桌当地美食，色香味俱全。", "A table of local food dishes."),
    "hotpot": Scene(("hotpot",), "热气腾腾的红油火锅。", "A steaming spicy hotpot."),
    "coffee": Scene(("coffee",), "窗边的一杯拿铁咖啡。", "A cup of latte coffee by the window."),
    "cat": Scene(("cat",), "一只橘猫在沙发上睡觉。", "A ginger cat sleeping on the sofa."),
    "cafe_cat": Scene(("cat", "coffee"), "咖啡馆里的猫趴在桌上。", "A cat lying on a cafe table next to coffee."),
    "dog": Scene(("dog",), "小狗在草地上奔跑。", "A puppy running on the grass."),
    "portrait": Scene(("portrait",), "一位游客在景点前微笑合影。", "A traveller smiling for a portrait."),
}


@dataclass(frozen=True, slots=True)
class Place:
    """Where photos were taken: the Chinese and English address IMM's geocoding would give, and the offset."""

    key: str  # used in file names
    zh: tuple[str, str, str, str, str, str]  # Country, Province, City, District, Township, AddressLine
    en: tuple[str, str, str, str, str, str]
    lat_long: str
    offset: str  # winter offset; Europe switches to summer time (see _offset)


PLACES: Final[dict[str, Place]] = {
    "hangzhou-xihu": Place(
        "hangzhou",
        ("中国", "浙江省", "杭州市", "西湖区", "龙井路", "中国浙江省杭州市西湖区龙井路1号"),
        ("China", "Zhejiang", "Hangzhou", "Xihu District", "Longjing Road",
         "1 Longjing Road, Xihu District, Hangzhou, Zhejiang, China"),
        "30.242850,120.148690", "+08:00",
    ),
    "hangzhou-shangcheng": Place(
        "hangzhou",
        ("中国", "浙江省", "杭州市", "上城区", "河坊街", "中国浙江省杭州市上城区河坊街85号"),
        ("China", "Zhejiang", "Hangzhou", "Shangcheng District", "Hefang Road",
         "85 Hefang Road, Shangcheng District, Hangzhou, Zhejiang, China"),
        "30.242130,120.169320", "+08:00",
    ),
    "beijing-dongcheng": Place(
        "beijing",
        ("中国", "北京市", "北京市", "东城区", "景山前街", "中国北京市东城区景山前街4号"),
        ("China", "Beijing", "Beijing", "Dongcheng District", "Jingshan Qianjie",
         "4 Jingshan Qianjie, Dongcheng District, Beijing, China"),
        "39.916345,116.397155", "+08:00",
    ),
    "beijing-chaoyang": Place(
        "beijing",
        ("中国", "北京市", "北京市", "朝阳区", "三里屯路", "中国北京市朝阳区三里屯路19号"),
        ("China", "Beijing", "Beijing", "Chaoyang District", "Sanlitun Road",
         "19 Sanlitun Road, Chaoyang District, Beijing, China"),
        "39.933740,116.454580", "+08:00",
    ),
    "shanghai-huangpu": Place(
        "shanghai",
        ("中国", "上海市", "上海市", "黄浦区", "中山东一路", "中国上海市黄浦区中山东一路12号"),
        ("China", "Shanghai", "Shanghai", "Huangpu District", "Zhongshan East 1st Road",
         "12 Zhongshan East 1st Road, Huangpu District, Shanghai, China"),
        "31.238820,121.490550", "+08:00",
    ),
    "shanghai-pudong": Place(
        "shanghai",
        ("中国", "上海市", "上海市", "浦东新区", "世纪大道", "中国上海市浦东新区世纪大道100号"),
        ("China", "Shanghai", "Shanghai", "Pudong New Area", "Century Avenue",
         "100 Century Avenue, Pudong New Area, Shanghai, China"),
        "31.234690,121.507290", "+08:00",
    ),
    "chengdu-wuhou": Place(
        "chengdu",
        ("中国", "四川省", "成都市", "武侯区", "武侯祠大街", "中国四川省成都市武侯区武侯祠大街231号"),
        ("China", "Sichuan", "Chengdu", "Wuhou District", "Wuhouci Avenue",
         "231 Wuhouci Avenue, Wuhou District, Chengdu, Sichuan, China"),
        "30.646130,104.047580", "+08:00",
    ),
    "chengdu-jinjiang": Place(
        "chengdu",
        ("中国", "四川省", "成都市", "锦江区", "春熙路", "中国四川省成都市锦江区春熙路8号"),
        ("China", "Sichuan", "Chengdu", "Jinjiang District", "Chunxi Road",
         "8 Chunxi Road, Jinjiang District, Chengdu, Sichuan, China"),
        "30.655610,104.080620", "+08:00",
    ),
    "sanya-jiyang": Place(
        "sanya",
        ("中国", "海南省", "三亚市", "吉阳区", "亚龙湾路", "中国海南省三亚市吉阳区亚龙湾路6号"),
        ("China", "Hainan", "Sanya", "Jiyang District", "Yalongwan Road",
         "6 Yalongwan Road, Jiyang District, Sanya, Hainan, China"),
        "18.228650,109.637410", "+08:00",
    ),
    "sanya-tianya": Place(
        "sanya",
        ("中国", "海南省", "三亚市", "天涯区", "三亚湾路", "中国海南省三亚市天涯区三亚湾路88号"),
        ("China", "Hainan", "Sanya", "Tianya District", "Sanyawan Road",
         "88 Sanyawan Road, Tianya District, Sanya, Hainan, China"),
        "18.262340,109.473560", "+08:00",
    ),
    "paris": Place(
        "paris",
        ("法国", "法兰西岛大区", "巴黎", "第七区", "战神广场", "法国法兰西岛大区巴黎第七区战神广场"),
        ("France", "Ile-de-France", "Paris", "7th Arrondissement", "Champ de Mars",
         "Champ de Mars, 7th Arrondissement, Paris, France"),
        "48.855800,2.298400", "+01:00",
    ),
    "rome": Place(
        "rome",
        ("意大利", "拉齐奥大区", "罗马", "第一区", "斗兽场广场", "意大利拉齐奥大区罗马斗兽场广场"),
        ("Italy", "Lazio", "Rome", "Municipio I", "Piazza del Colosseo",
         "Piazza del Colosseo, Municipio I, Rome, Lazio, Italy"),
        "41.890210,12.492230", "+01:00",
    ),
}

# One row per outing: (place key or None for home, local date-time of the first photo, the scenes, one per photo).
# Photos of an outing are 90 minutes apart. A time given with seconds ("...:07") is kept exactly (boundary cases).
Outing = tuple[str | None, str, tuple[str, ...]]
OUTINGS: Final[tuple[Outing, ...]] = (
    # Hangzhou
    ("hangzhou-xihu", "2018-04-05T09:00", ("lake", "tea", "flower", "temple", "food")),
    ("hangzhou-xihu", "2019-07-12T08:30", ("lotus", "lake", "sunset", "food")),
    ("hangzhou-shangcheng", "2020-11-03T10:00", ("temple", "night", "food", "coffee")),
    ("hangzhou-xihu", "2021-04-10T08:00", ("lake", "flower", "tea", "hills", "portrait")),
    ("hangzhou-shangcheng", "2021-04-28T09:30", ("temple", "view", "food")),
    ("hangzhou-xihu", "2021-05-02T09:00", ("view", "lake", "portrait")),
    ("hangzhou-xihu", "2022-10-02T08:00", ("lake", "temple", "food", "portrait")),
    ("hangzhou-xihu", "2023-01-01T07:00:00", ("snowy_view",)),  # 2022-12-31T23:00Z: still 2023 on the wall clock
    ("hangzhou-xihu", "2023-04-15T08:00", ("lake", "flower", "hills", "tea", "portrait")),
    ("hangzhou-xihu", "2023-07-20T17:00", ("lotus", "lake", "sunset", "view")),
    ("hangzhou-shangcheng", "2023-10-05T10:00", ("temple", "night", "food")),
    ("hangzhou-xihu", "2024-01-01T00:30:00", ("snowy_view",)),  # 2023-12-31T16:30Z: 2024 on the wall clock
    ("hangzhou-xihu", "2024-06-15T08:00", ("lotus", "lake", "food")),
    ("hangzhou-xihu", "2025-04-03T09:00", ("flower", "view", "tea", "portrait")),
    ("hangzhou-xihu", "2025-05-20T09:00", ("flower", "lake")),
    ("hangzhou-shangcheng", "2025-10-06T11:00", ("food", "temple", "coffee")),
    # Beijing
    ("beijing-dongcheng", "2018-12-20T10:00", ("snowy_landmark", "food")),
    ("beijing-dongcheng", "2019-02-05T09:00", ("snow", "landmark", "food", "portrait")),
    ("beijing-dongcheng", "2020-10-01T08:30", ("temple", "landmark", "portrait", "food")),
    ("beijing-dongcheng", "2020-10-02T09:00", ("temple", "food")),
    ("beijing-chaoyang", "2020-10-15T15:00", ("coffee", "night")),
    ("beijing-dongcheng", "2021-01-08T09:00", ("snowy_landmark", "snowy_view")),
    ("beijing-chaoyang", "2022-08-10T16:00", ("night", "coffee", "food")),
    ("beijing-dongcheng", "2023-12-15T09:00", ("snowy_temple", "snow")),
    ("beijing-chaoyang", "2024-03-20T14:00", ("coffee", "portrait", "night")),
    ("beijing-dongcheng", "2024-12-25T10:00", ("snowy_landmark", "coffee")),
    ("beijing-dongcheng", "2025-02-10T09:00", ("snow", "temple", "hotpot")),
    # Shanghai
    ("shanghai-huangpu", "2019-05-18T17:00", ("night", "landmark", "portrait")),
    ("shanghai-huangpu", "2019-12-24T19:00", ("night", "landmark")),
    ("shanghai-pudong", "2019-09-30T18:00", ("night", "coffee", "food")),
    ("shanghai-huangpu", "2021-12-31T20:00", ("night", "portrait")),
    ("shanghai-huangpu", "2023-05-01T09:00", ("portrait", "landmark", "food", "night")),
    ("shanghai-pudong", "2023-05-02T10:00", ("portrait", "coffee")),
    ("shanghai-pudong", "2024-08-08T15:00", ("coffee", "cafe_cat")),
    ("shanghai-huangpu", "2025-09-12T19:00", ("night", "food")),
    ("shanghai-huangpu", "2025-10-18T12:00", ("food", "hotpot", "night")),
    # Chengdu
    ("chengdu-wuhou", "2018-03-15T09:00", ("dog", "hotpot", "temple", "flower")),
    ("chengdu-jinjiang", "2018-10-20T11:00", ("dog", "food")),
    ("chengdu-wuhou", "2022-07-05T08:00", ("hills", "hotpot", "temple")),
    ("chengdu-jinjiang", "2024-09-14T12:00", ("hotpot", "cafe_cat", "coffee")),
    ("chengdu-jinjiang", "2025-05-01T11:00", ("hotpot", "dog", "portrait")),
    ("chengdu-wuhou", "2025-08-02T18:00", ("hotpot", "food", "night")),
    ("chengdu-wuhou", "2025-11-15T12:00", ("hotpot", "food")),
    # Sanya
    ("sanya-jiyang", "2019-01-25T10:00", ("beach", "beach_sunset", "food")),
    ("sanya-tianya", "2020-01-22T15:00", ("beach", "sunset")),
    ("sanya-jiyang", "2020-02-01T16:00", ("beach", "beach_sunset")),
    ("sanya-jiyang", "2022-07-18T10:00", ("beach", "beach_sunset", "portrait")),
    ("sanya-tianya", "2022-08-25T09:00", ("beach", "food")),
    ("sanya-tianya", "2024-05-30T10:00", ("beach", "portrait")),
    ("sanya-jiyang", "2024-07-10T09:00", ("beach", "beach_sunset", "food", "portrait")),
    ("sanya-jiyang", "2025-07-20T16:00", ("beach", "beach_sunset")),
    # Abroad
    ("rome", "2018-05-05T10:00", ("landmark", "food")),
    ("paris", "2019-06-20T17:00", ("landmark_sunset", "food", "coffee", "portrait")),
    ("paris", "2019-06-21T19:00", ("sunset", "night")),
    ("paris", "2023-03-10T10:00", ("landmark", "coffee", "food")),
    ("rome", "2023-09-15T09:00", ("landmark", "temple", "food", "sunset")),
    ("paris", "2023-12-31T22:00", ("night", "landmark")),
    # Home: no address
    (None, "2019-03-03T20:00", ("cat", "cat")),
    (None, "2021-06-06T19:00", ("cat", "dog")),
    (None, "2022-02-14T21:00", ("dog", "food")),
    (None, "2023-08-08T20:00", ("cat",)),
    (None, "2025-11-20T08:00", ("cat", "cat", "dog")),  # yesterday, seen from NOW
    (None, "2025-11-21T08:00", ("cat",)),  # today
)

# Scanned prints: no ProduceTime (the scanner does not know when they were taken); some without an address too.
UNDATED: Final[tuple[tuple[str | None, str], ...]] = (
    ("hangzhou-xihu", "lake"),
    ("hangzhou-xihu", "view"),
    ("beijing-dongcheng", "portrait"),
    ("sanya-jiyang", "beach"),
    (None, "portrait"),
    (None, "cat"),
    (None, "food"),
)


def _offset(place: Place, moment: datetime) -> str:
    """The UTC offset at that place and time: China has none of summer time; Europe adds an hour April–October."""
    if place.offset == "+08:00":
        return place.offset
    return "+02:00" if 4 <= moment.month <= 10 else "+01:00"


def _labels(scene: Scene) -> list[dict[str, Any]]:
    labels: list[dict[str, Any]] = []
    for rank, key in enumerate(scene.labels):
        label = LABELS[key]
        confidence = round(0.95 - 0.07 * rank, 2)
        labels.append({"Language": "zh-Hans", "LabelName": label.zh, "ParentLabelName": label.parent_zh,
                       "LabelConfidence": confidence, "LabelLevel": 2})
        labels.append({"Language": "en", "LabelName": label.en, "ParentLabelName": label.parent_en,
                       "LabelConfidence": confidence, "LabelLevel": 2})
    return labels


def _addresses(place: Place) -> list[dict[str, Any]]:
    keys = ("Country", "Province", "City", "District", "Township", "AddressLine")
    return [
        {"Language": "zh-Hans", **dict(zip(keys, place.zh))},
        {"Language": "en", **dict(zip(keys, place.en))},
    ]


def _file(index: int, name: str, scene_key: str, place: Place | None, produced: datetime | None) -> dict[str, Any]:
    scene = SCENES[scene_key]
    video = produced is not None and index % VIDEO_EVERY == VIDEO_EVERY - 1  # a scanned print is never a video
    where = place.en[2] if place else "Home"
    first = LABELS[scene.labels[0]].en
    file: dict[str, Any] = {
        "URI": f"s3://{BUCKET}/{name}.{'mp4' if video else 'jpg'}",
        "MediaType": "video" if video else "image",
        "ContentType": "video/mp4" if video else "image/jpeg",
        "Title": f"{where} {first}{' clip' if video else ''}",
        "Labels": _labels(scene),
        "Insights": {("Video" if video else "Image"): {"Caption": scene.caption_zh, "Description": scene.description_en}},
    }
    if video:
        file.update({"VideoWidth": 1920, "VideoHeight": 1080, "Duration": 12.5 + index % 7})
    else:
        file.update({"ImageWidth": 4032, "ImageHeight": 3024})
    if produced is not None:
        offset = _offset(place, produced) if place else "+08:00"
        file["ProduceTime"] = produced.isoformat(timespec="seconds") + offset
    if place is not None:
        file["Addresses"] = _addresses(place)
        file["LatLong"] = place.lat_long
    return file


def photo_files() -> list[dict[str, Any]]:
    """Every file of the library, in a fixed order (outings by place then time, home photos, scanned prints).

    Each call builds fresh dicts, so a caller may change them freely.
    """
    files: list[dict[str, Any]] = []
    for place_key, start, scenes in OUTINGS:
        place = PLACES[place_key] if place_key else None
        first = datetime.fromisoformat(start)
        stem = f"{first:%Y%m%d}-{place.key if place else 'home'}"
        for number, scene_key in enumerate(scenes, start=1):
            files.append(_file(len(files), f"{stem}-{number:02d}", scene_key, place, _later(first, number - 1)))
    for number, (place_key, scene_key) in enumerate(UNDATED, start=1):
        place = PLACES[place_key] if place_key else None
        files.append(_file(len(files), f"scan-{number:02d}", scene_key, place, None))
    # One file keeps IMM's nanosecond precision (seed 002's sample), which Python's fromisoformat cannot read as is.
    for file in files:
        if file["URI"].endswith("20210410-hangzhou-01.jpg"):
            file["ProduceTime"] = "2021-04-10T08:00:13.011643661+08:00"
    return files


def _later(first: datetime, steps: int) -> datetime:
    """The ``steps``-th photo after the first, 90 minutes apart (outings never cross a month boundary)."""
    minutes = first.hour * 60 + first.minute + 90 * steps
    if minutes >= 24 * 60:
        raise ValueError(f"an outing starting {first} runs past midnight")
    return first.replace(hour=minutes // 60, minute=minutes % 60)
