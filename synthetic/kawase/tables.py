"""Frequency tables of the second synthetic municipality (川瀬市), made by hand.

Independent of ``synthetic.names`` (which draws gimei's list with Zipf weights by rank):

* **Surnames.** The 60 most common surnames are written out with readings and weighted by
  the shape of published national surname rankings (rank ``r`` gets weight ``r**-0.75``:
  the top name about 1.5 % of people, rank 60 about 0.3 %), together about 28 % of
  people; the rest come uniformly from gimei's surname list (*without* its rank order),
  so the long tail is flat, as it is in real rankings beyond the first few hundred names.
* **Given names** of children born 2008–2026, written out with *several* readings per
  kanji spelling (陽翔 ハルト/ヒナト/ハルヒ), weighted by rank ``r**-0.6`` (about 22 % of
  children); the rest uniformly from gimei's given names. Readings are drawn per child,
  so two children with one spelling may read it differently.
* **Homophone kanji** for input-method (IME) conversion errors: a kanji replaced by
  another with the same reading (佳奈 → 加奈, 斎藤 → 斉藤).
* **Foreign residents** with the shares of the published foreign-resident statistics'
  largest nationalities (CN, VN, KR, PH, BR, NP, ID), roman names and their katakana.
"""

from __future__ import annotations

# (kanji, reading), in rank order.
SURNAMES: tuple[tuple[str, str], ...] = (
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
    ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"),
    ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山田", "ヤマダ"),
    ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"), ("井上", "イノウエ"),
    ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"),
    ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"),
    ("阿部", "アベ"), ("石川", "イシカワ"), ("山下", "ヤマシタ"), ("中島", "ナカジマ"),
    ("石井", "イシイ"), ("小川", "オガワ"), ("前田", "マエダ"), ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"), ("近藤", "コンドウ"),
    ("村上", "ムラカミ"), ("遠藤", "エンドウ"), ("青木", "アオキ"), ("坂本", "サカモト"),
    ("斉藤", "サイトウ"), ("福田", "フクダ"), ("太田", "オオタ"), ("西村", "ニシムラ"),
    ("藤井", "フジイ"), ("金子", "カネコ"), ("岡本", "オカモト"), ("藤原", "フジワラ"),
    ("中野", "ナカノ"), ("三浦", "ミウラ"), ("原田", "ハラダ"), ("中川", "ナカガワ"),
    ("松田", "マツダ"), ("竹内", "タケウチ"), ("小野", "オノ"), ("田村", "タムラ"),
    ("中山", "ナカヤマ"), ("和田", "ワダ"), ("石田", "イシダ"), ("上田", "ウエダ"),
)  # fmt: skip
SURNAME_HEAD_SHARE = 0.28
SURNAME_EXPONENT = 0.75

# (kanji, readings), in rank order.
BOY_NAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("蓮", ("レン",)), ("陽翔", ("ハルト", "ヒナト", "ハルヒ")), ("湊", ("ミナト", "ソウ")),
    ("蒼", ("アオイ", "ソウ", "アオ")), ("樹", ("イツキ", "タツキ")),
    ("大翔", ("ヒロト", "ハルト", "ヤマト")), ("悠真", ("ユウマ", "ハルマ")),
    ("朝陽", ("アサヒ",)), ("碧", ("アオイ", "ミドリ")), ("颯真", ("ソウマ", "フウマ")),
    ("律", ("リツ",)), ("陽向", ("ヒナタ", "ヒュウガ")), ("悠人", ("ユウト", "ハルト")),
    ("結翔", ("ユイト",)), ("大和", ("ヤマト",)), ("陸", ("リク",)),
    ("颯", ("ハヤテ", "ソウ")), ("奏太", ("ソウタ", "カナタ")), ("翔太", ("ショウタ",)),
    ("拓海", ("タクミ",)), ("悠斗", ("ユウト", "ハルト")), ("優斗", ("ユウト",)),
    ("陽太", ("ヨウタ", "ヒナタ")), ("蒼空", ("ソラ", "アオゾラ")), ("健太", ("ケンタ",)),
    ("颯太", ("ソウタ", "フウタ")), ("海斗", ("カイト",)), ("陽斗", ("ハルト", "アキト")),
    ("湊斗", ("ミナト",)), ("凪", ("ナギ",)), ("翼", ("ツバサ",)), ("大輝", ("ダイキ",)),
)  # fmt: skip
GIRL_NAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("陽葵", ("ヒマリ", "ヒナタ", "ヒナ")), ("凛", ("リン",)), ("結菜", ("ユイナ", "ユナ")),
    ("葵", ("アオイ",)), ("紬", ("ツムギ",)), ("芽依", ("メイ",)), ("結愛", ("ユア", "ユイア")),
    ("莉子", ("リコ",)), ("澪", ("ミオ",)), ("陽菜", ("ヒナ", "ハルナ")),
    ("咲良", ("サクラ", "サラ")), ("杏", ("アン", "アンズ")), ("美桜", ("ミオ", "ミサクラ")),
    ("結衣", ("ユイ",)), ("心春", ("コハル",)), ("花", ("ハナ",)), ("彩葉", ("イロハ",)),
    ("詩", ("ウタ",)), ("翠", ("スイ", "ミドリ")), ("琴音", ("コトネ",)), ("芽衣", ("メイ",)),
    ("楓", ("カエデ",)), ("さくら", ("サクラ",)), ("美咲", ("ミサキ",)), ("愛莉", ("アイリ",)),
    ("心結", ("ミユ", "ココミ")), ("結月", ("ユヅキ", "ユツキ")), ("紗奈", ("サナ",)),
    ("優奈", ("ユウナ",)), ("美月", ("ミヅキ", "ミツキ")), ("佳奈", ("カナ",)),
)  # fmt: skip
GIVEN_HEAD_SHARE = 0.22
GIVEN_EXPONENT = 0.6

# Kanji sharing a reading: an IME offers them side by side.
HOMOPHONES: tuple[str, ...] = (
    "佳加香夏", "奈菜那", "優悠裕勇", "翔祥", "斎斉", "陽洋遥", "真眞", "太多", "斗人",
    "美実", "子仔", "沢澤", "辺邊", "島嶋", "崎﨑", "葵碧", "結唯", "愛藍", "莉里理", "菜奈",
    "大太", "輝希", "海洋", "花華", "心新", "月築",
)  # fmt: skip

# Foreign residents: nationality -> (share, surnames, given names, uses kanji).
# Roman names with their katakana, as entries "ROMAN:カタカナ".
FOREIGN: dict[str, tuple[float, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "CN": (0.28, ("WANG:ワン", "LI:リ", "ZHANG:チャン", "LIU:リュウ", "CHEN:チェン"),
           ("HAORAN:ハオラン", "YUXUAN:ユーシュエン", "ZIHAN:ズーハン", "XINYI:シンイー",
            "YUTONG:ユートン"), ("王", "李", "張", "劉", "陳")),
    "VN": (0.18, ("NGUYEN:グエン", "TRAN:チャン", "LE:レ", "PHAM:ファム"),
           ("VAN ANH:ヴァン アイン", "MINH:ミン", "THU:トゥ", "BAO:バオ", "LINH:リン"), ()),
    "KR": (0.14, ("KIM:キム", "LEE:イ", "PARK:パク", "CHOI:チェ"),
           ("MINJUN:ミンジュン", "SEOYEON:ソヨン", "JIWOO:ジウ", "HAEUN:ハウン"),
           ("金", "李", "朴", "崔")),
    "PH": (0.12, ("SANTOS:サントス", "REYES:レイエス", "CRUZ:クルス", "GARCIA:ガルシア"),
           ("MARIA:マリア", "JOHN PAUL:ジョン ポール", "ANGEL:エンジェル", "ALTHEA:アルテア"),
           ()),
    "BR": (0.10, ("SILVA:シルバ", "SANTOS:サントス", "OLIVEIRA:オリベイラ",
                  "NAKAMURA:ナカムラ"),
           ("LUCAS:ルーカス", "GABRIEL:ガブリエル", "ISABELA:イザベラ", "JULIA:ジュリア",
            "ENZO:エンゾ"), ()),
    "NP": (0.10, ("GURUNG:グルン", "SHRESTHA:シュレスタ", "TAMANG:タマン", "RAI:ライ"),
           ("AAYUSH:アーユシュ", "SITA:シタ", "BIKASH:ビカシュ", "ANISHA:アニシャ"), ()),
    "ID": (0.08, ("SAPUTRA:サプトラ", "WIJAYA:ウィジャヤ", "SETIAWAN:セティアワン"),
           ("ADI:アディ", "PUTRI:プトリ", "RIZKY:リズキ", "DEWI:デウィ"), ()),
}  # fmt: skip
CN_KR_GIVEN_KANJI: tuple[str, ...] = ("浩然", "宇軒", "子涵", "欣怡", "敏俊", "瑞妍", "智宇")

TOWNS: tuple[str, ...] = (
    "川瀬本町", "緑が丘", "旭町", "東川瀬", "西川瀬", "南ヶ原", "北野", "若葉台", "港南",
    "中央", "栄町", "桜ヶ丘", "白鷺", "新田", "柳町", "松原", "梅ノ木", "青葉",
)  # fmt: skip
BLOCKS: tuple[str, ...] = (
    "県営川瀬団地", "市営旭ハイツ", "グリーンタウン若葉", "港南第二住宅", "サンシティ川瀬",
    "UR白鷺団地",
)  # fmt: skip
