"""A demo program that looks like the real thing, and a live sales simulator to make it move.

``seed_demo`` fills an empty database with an Indonesian electronics maker's channel program:
regions, leagues, ~200 partners, ~1,000 reps, 30 SKUs, logins, an API key and three months of
sales history. The history goes through ``ingest_events`` like any ERP feed would, so the ledger,
running totals and every board built on them are exactly what production would show; nothing
is written around the one ingestion path.

Everything is drawn from one fixed random seed, so two demos seeded at the same ``now`` are the
same demo (screenshots, bug reports and tests can rely on it).
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import logging
import math
import random
import re
import secrets
import string
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from app.accounts import Role, create_user
from app.apikeys import create_api_key
from app.badges import seed_demo_badges, settle_badges
from app.challenges import seed_demo_challenges
from app.db import Database
from app.ingest import IngestReport, ingest_events
from app.models import League, Partner, Product, Program, Region, Rep, User
from game.events import EventType
from game.scoring import ScoringRules
from game.tiers import Tier, TierLadder, TierMetric

log = logging.getLogger(__name__)

SEED = 20260101  # the demo's one random seed: same `now`, same demo
ZONE = ZoneInfo("Asia/Jakarta")
DEMO_PASSWORD = "podium-demo-2026"
HISTORY_SOURCE = "demo-history"
SIMULATOR_SOURCE = "simulator"
RELOAD_EVERY = 40  # simulator ticks between re-reading the program and its reps
BATCH_SIZE = 1_000
PARTNER_COUNT = 200
REP_COUNT = 1_000
HISTORY_MONTHS = 3
PROGRAM_MONTHS = 12
VENDOR_NAME = "PT Nusantara Elektrindo"
VENDOR_DOMAIN = "nusantaraelektrindo.co.id"
API_KEY_NAME = "demo-erp"

# --------------------------------------------------------------------------------------------
# Reference data. Plain tuples, so a reader can check a name or a price at a glance.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RegionSpec:
    code: str
    name: str
    weight: float  # share of partners (Java's big cities carry most of the trade)
    cities: tuple[str, ...]
    # Which naming traditions the people of the region mostly come from, with weights.
    people: tuple[tuple[str, float], ...]


REGIONS: tuple[_RegionSpec, ...] = (
    _RegionSpec(
        "JKT", "Jabodetabek", 0.22,
        ("Jakarta Pusat", "Jakarta Barat", "Jakarta Utara", "Jakarta Selatan", "Jakarta Timur",
         "Bogor", "Depok", "Tangerang", "Tangerang Selatan", "Bekasi"),
        (("jawa", 0.35), ("sunda", 0.15), ("tionghoa", 0.2), ("batak", 0.12), ("minang", 0.08),
         ("bugis", 0.05), ("manado", 0.05)),
    ),
    _RegionSpec(
        "JBR", "Jawa Barat", 0.16,
        ("Bandung", "Cimahi", "Cirebon", "Tasikmalaya", "Sukabumi", "Karawang", "Garut",
         "Purwakarta"),
        (("sunda", 0.65), ("jawa", 0.15), ("tionghoa", 0.15), ("batak", 0.05)),
    ),
    _RegionSpec(
        "JTG", "Jawa Tengah & DIY", 0.14,
        ("Semarang", "Surakarta", "Yogyakarta", "Magelang", "Pekalongan", "Tegal", "Purwokerto",
         "Kudus", "Klaten"),
        (("jawa", 0.8), ("tionghoa", 0.15), ("sunda", 0.05)),
    ),
    _RegionSpec(
        "JTM", "Jawa Timur", 0.17,
        ("Surabaya", "Malang", "Sidoarjo", "Gresik", "Kediri", "Jember", "Madiun", "Banyuwangi",
         "Probolinggo"),
        (("jawa", 0.75), ("tionghoa", 0.18), ("bugis", 0.03), ("manado", 0.04)),
    ),
    _RegionSpec(
        "SUM", "Sumatera", 0.15,
        ("Medan", "Palembang", "Pekanbaru", "Padang", "Bandar Lampung", "Jambi", "Batam",
         "Pematangsiantar", "Bengkulu"),
        (("batak", 0.35), ("minang", 0.25), ("tionghoa", 0.2), ("jawa", 0.2)),
    ),
    _RegionSpec(
        "KAL", "Kalimantan", 0.07,
        ("Balikpapan", "Samarinda", "Banjarmasin", "Pontianak", "Palangka Raya"),
        (("banjar", 0.4), ("jawa", 0.25), ("tionghoa", 0.2), ("bugis", 0.15)),
    ),
    _RegionSpec(
        "SIT", "Sulawesi & Indonesia Timur", 0.09,
        ("Makassar", "Manado", "Kendari", "Palu", "Denpasar", "Mataram", "Kupang", "Ambon",
         "Jayapura"),
        (("bugis", 0.35), ("manado", 0.2), ("bali", 0.12), ("timur", 0.13), ("tionghoa", 0.1),
         ("jawa", 0.1)),
    ),
)


@dataclass(frozen=True)
class _LeagueSpec:
    code: str
    name: str
    partners: int
    reps: tuple[int, int]  # reps per partner, inclusive range
    lines_per_rep_month: float  # sale lines a typical rep records in a month
    units_per_line: float  # mean units on one invoice line (distributors sell by the carton)
    legal_forms: tuple[str, ...]


# By last year's sales, so a shop is compared with shops and a distributor with distributors.
LEAGUES: tuple[_LeagueSpec, ...] = (
    _LeagueSpec("UTAMA", "Liga Utama", 30, (8, 14), 9.0, 6.0, ("PT",)),
    _LeagueSpec("MADYA", "Liga Madya", 70, (4, 7), 6.5, 2.6, ("CV", "CV", "PT")),
    _LeagueSpec("PRATAMA", "Liga Pratama", 100, (1, 4), 5.0, 1.3, ("Toko", "Toko", "UD")),
)


@dataclass(frozen=True)
class _ProductSpec:
    sku: str
    name: str
    category: str
    price: int  # list price in rupiah
    popularity: float  # relative share of sale lines


PRODUCTS: tuple[_ProductSpec, ...] = (
    _ProductSpec("NE-TV32H1", 'LED TV 32" HD', "LED TV", 2_099_000, 9),
    _ProductSpec("NE-TV43F2", 'Smart LED TV 43" Full HD', "LED TV", 3_599_000, 8),
    _ProductSpec("NE-TV50U3", 'Smart LED TV 50" 4K UHD', "LED TV", 5_299_000, 5),
    _ProductSpec("NE-TV55Q7", 'QLED Google TV 55" 4K', "LED TV", 7_999_000, 4),
    _ProductSpec("NE-TV65U5", 'Smart LED TV 65" 4K UHD', "LED TV", 11_999_000, 1.5),
    _ProductSpec("NE-RF180S", "Kulkas 1 Pintu 180 L", "Kulkas", 2_199_000, 7),
    _ProductSpec("NE-RF260D", "Kulkas 2 Pintu 260 L", "Kulkas", 3_899_000, 5),
    _ProductSpec("NE-RF330V", "Kulkas 2 Pintu Inverter 330 L", "Kulkas", 5_799_000, 3),
    _ProductSpec("NE-RF600X", "Kulkas Side by Side Inverter 600 L", "Kulkas", 14_999_000, 0.8),
    _ProductSpec("NE-FZ200C", "Chest Freezer 200 L", "Kulkas", 3_499_000, 2),
    _ProductSpec("NE-WM08T", "Mesin Cuci 2 Tabung 8 kg", "Mesin Cuci", 1_899_000, 7),
    _ProductSpec("NE-WM09A", "Mesin Cuci 1 Tabung Top Loading 9 kg", "Mesin Cuci", 3_299_000, 4),
    _ProductSpec("NE-WM08F", "Mesin Cuci Front Loading Inverter 8 kg", "Mesin Cuci", 5_999_000, 2),
    _ProductSpec("NE-WM10F", "Mesin Cuci Front Loading Inverter 10 kg", "Mesin Cuci", 7_499_000, 1),
    _ProductSpec("NE-AC05S", "AC Split ½ PK", "AC", 3_099_000, 7),
    _ProductSpec("NE-AC07S", "AC Split ¾ PK", "AC", 3_549_000, 5),
    _ProductSpec("NE-AC10S", "AC Split 1 PK", "AC", 4_199_000, 6),
    _ProductSpec("NE-AC10V", "AC Split Inverter 1 PK Hemat Listrik", "AC", 5_299_000, 4),
    _ProductSpec("NE-AC15V", "AC Split Inverter 1½ PK", "AC", 6_499_000, 2.5),
    _ProductSpec("NE-AC20V", "AC Split Inverter 2 PK", "AC", 8_799_000, 1.2),
    _ProductSpec("NE-RC18D", "Rice Cooker Digital 1,8 L", "Peralatan Dapur", 899_000, 6),
    _ProductSpec("NE-RC18M", "Magic Com Rice Cooker 1,8 L", "Peralatan Dapur", 389_000, 10),
    _ProductSpec("NE-BL15G", "Blender Kaca 1,5 L", "Peralatan Dapur", 459_000, 6),
    _ProductSpec("NE-AF45D", "Air Fryer Digital 4,5 L", "Peralatan Dapur", 1_199_000, 5),
    _ProductSpec("NE-MW25G", "Microwave Grill 25 L", "Peralatan Dapur", 1_499_000, 2.5),
    _ProductSpec("NE-FN16S", 'Kipas Angin Berdiri 16"', "Kipas Angin", 329_000, 10),
    _ProductSpec("NE-FN16W", 'Kipas Angin Dinding 16"', "Kipas Angin", 289_000, 6),
    _ProductSpec("NE-FN12D", "Kipas Angin Tower Remote", "Kipas Angin", 749_000, 3),
    _ProductSpec("NE-WD01T", "Dispenser Galon Atas", "Dispenser", 699_000, 5),
    _ProductSpec("NE-WD02B", "Dispenser Galon Bawah Hot & Cold", "Dispenser", 2_299_000, 3),
)
NEW_LAUNCH_SKUS = ("NE-TV55Q7", "NE-AC10V")  # the program pushes these: points ×2

@dataclass(frozen=True)
class _Tradition:
    """How people of one naming tradition are called: given names by gender, second names
    (a family name, a clan or a father's name; some are feminine or masculine forms), and the
    share of people known by one name only (common among older Javanese: "Sutrisno")."""

    men: tuple[str, ...]
    women: tuple[str, ...]
    men_second: tuple[str, ...]
    women_second: tuple[str, ...]
    single: float = 0.0


_BATAK = ("Simanjuntak", "Siregar", "Nasution", "Hutapea", "Sitorus", "Panjaitan", "Situmorang",
          "Simatupang", "Pardede", "Sinaga", "Manurung", "Lubis", "Harahap", "Tambunan",
          "Hutagalung", "Silalahi")
_TIONGHOA = ("Tanoto", "Wijaya", "Halim", "Gunawan", "Tanjaya", "Salim", "Lim", "Kurniadi",
             "Susanto", "Hartanto", "Sugiarto", "Tjahjadi", "Setiadi", "Budiman", "Kusuma", "Liem",
             "Tanuwijaya", "Widjaja", "Chandra")
_MINANG = ("Chaniago", "Piliang", "Koto", "Tanjung", "Sikumbang", "Jambak", "Malik")
_BUGIS = ("Mappangara", "Pawellangi", "Hamzah", "Amir", "Syahrir", "Baso", "Rasyid", "Latief",
          "Yunus", "Mattalitti", "Palallo", "Sulaiman")
_BANJAR = ("Noor", "Rahman", "Effendi", "Arsyad", "Hidayatullah", "Maulana", "Ramadhani",
           "Anwar", "Saleh", "Fauzan")
_MANADO = ("Pangemanan", "Wuisan", "Lumentut", "Sondakh", "Rondonuwu", "Lengkong", "Mamahit",
           "Tumbelaka", "Rumengan", "Supit", "Kawengian", "Mandagi")
_TIMUR = ("Pattinama", "Latuheru", "Rumbiak", "Kaisiepo", "Ndoen", "Manafe", "Lakapu", "Tanamal",
          "Pelupessy", "Sahetapy", "Fanggidae", "Wonda")

PEOPLE: dict[str, _Tradition] = {
    "jawa": _Tradition(
        ("Budi", "Agus", "Eko", "Wahyu", "Joko", "Bambang", "Hadi", "Yudi", "Heru", "Teguh",
         "Slamet", "Aditya", "Rizky", "Fajar", "Bayu", "Galih", "Dwi", "Tri", "Arif", "Dimas"),
        ("Sri", "Siti", "Endang", "Rini", "Ratna", "Dewi", "Ayu", "Wulan", "Retno", "Putri",
         "Anisa", "Dwi", "Tri", "Puji", "Nur", "Indah", "Dian"),
        ("Santoso", "Setiawan", "Prasetyo", "Nugroho", "Susilo", "Wibowo", "Hartono", "Purnomo",
         "Suryadi", "Kurniawan", "Saputra", "Utomo", "Hidayat", "Wicaksono", "Sutrisno",
         "Widodo"),
        ("Lestari", "Rahayu", "Handayani", "Wulandari", "Astuti", "Pratiwi", "Kusumawati",
         "Rahmawati", "Susanti", "Puspitasari", "Anggraini"),
        single=0.08,
    ),
    "sunda": _Tradition(
        ("Asep", "Ujang", "Dadang", "Cecep", "Yayan", "Iwan", "Tatang", "Dodi", "Ridwan", "Acep",
         "Wawan", "Dede", "Ade", "Agus"),
        ("Euis", "Neneng", "Lilis", "Rina", "Yanti", "Enung", "Nining", "Dede", "Ade", "Teti",
         "Imas", "Entin"),
        ("Sunarya", "Hermawan", "Permana", "Supriatna", "Kusnadi", "Suryana", "Rukmana",
         "Gunawan", "Hidayat", "Sobari", "Mulyana", "Setiadi"),
        ("Nurhayati", "Rosita", "Kurniasih", "Rahmawati", "Sumiati", "Komalasari", "Mulyani",
         "Haryati"),
        single=0.04,
    ),
    "batak": _Tradition(
        ("Roy", "Rudi", "Maruli", "Togar", "Ferdinand", "Lamhot", "Sahat", "Daniel", "Martua",
         "Benny", "Jonatan", "Hotman"),
        ("Yohana", "Rosmawati", "Tiurma", "Rotua", "Lastri", "Friska", "Hotmaida", "Nurmaida",
         "Sondang"),
        _BATAK, _BATAK,
    ),
    "tionghoa": _Tradition(
        ("Hendra", "Willy", "Kevin", "Steven", "Yohanes", "Felix", "Hendrik", "Suwandi",
         "Michael", "Ricky", "Andreas", "Johan", "Ivan"),
        ("Lina", "Mei Ling", "Fransiska", "Liliana", "Jessica", "Vivian", "Cindy", "Agnes",
         "Yenny", "Wenny", "Linda"),
        _TIONGHOA, _TIONGHOA,
    ),
    "minang": _Tradition(
        ("Rizal", "Fadli", "Yusuf", "Hendri", "Erwin", "Zulfikar", "Afrizal", "Syafrizal",
         "Ilham", "Fauzan"),
        ("Novita", "Yuliana", "Rahmi", "Elvi", "Desi", "Yusnita", "Fitri"),
        _MINANG, _MINANG,
    ),
    "bugis": _Tradition(
        ("Andi", "Muhammad", "Syamsul", "Irfan", "Hasanuddin", "Ismail", "Arifin", "Rahmat",
         "Zulkifli", "Mustafa"),
        ("Andi", "Nurul", "Jumriah", "Hasnah", "Fitriani", "Sitti", "Nurhaedah", "Hasmawati"),
        _BUGIS, _BUGIS,
    ),
    "banjar": _Tradition(
        ("Ahmad", "Rahmadi", "Syahrudin", "Fauzi", "Rusdiansyah", "Hairul", "Taufik", "Rizqi",
         "Muhammad"),
        ("Aulia", "Mahmudah", "Normila", "Yuliani", "Siti", "Rusmini", "Hamidah"),
        _BANJAR, _BANJAR,
    ),
    "manado": _Tradition(
        ("Jefry", "Stevy", "Christian", "Ronald", "Frangky", "Vicky", "Reinhard", "Novry",
         "Denny"),
        ("Olivia", "Meity", "Grace", "Deasy", "Novie", "Shinta", "Vanny", "Inggrid"),
        _MANADO, _MANADO,
    ),
    "bali": _Tradition(
        ("I Wayan", "I Made", "I Ketut", "I Nyoman", "I Gede", "I Putu", "I Komang"),
        ("Ni Luh", "Ni Made", "Ni Putu", "Ni Ketut", "Ni Komang"),
        ("Sudarma", "Wirawan", "Suardana", "Astawa", "Mahendra", "Artawan", "Suarjana"),
        ("Pradnyani", "Ariani", "Sukmawati", "Ayu Lestari", "Wulandari", "Sri Wahyuni"),
    ),
    "timur": _Tradition(
        ("Yakob", "Marthen", "Petrus", "Agustinus", "Obed", "Ferry", "Markus", "Nikolas",
         "Yosias"),
        ("Maria", "Yuliana", "Yosina", "Elisabeth", "Magdalena", "Selvi"),
        _TIMUR, _TIMUR,
    ),
}

# Words of Indonesian trade names ("Sumber Makmur", "Sinar Jaya Abadi").
_NAME_FIRST = ("Sumber", "Sinar", "Cahaya", "Surya", "Bintang", "Mitra", "Karya", "Harapan",
               "Anugerah", "Mega", "Duta", "Graha", "Maju", "Berkah", "Setia", "Putra",
               "Terang", "Citra", "Restu", "Buana", "Sentral", "Pelangi")
_NAME_SECOND = ("Jaya", "Makmur", "Sentosa", "Abadi", "Mulia", "Sejahtera", "Gemilang",
                "Perkasa", "Mandiri", "Lestari", "Utama", "Prima", "Agung", "Rejeki", "Baru",
                "Indah", "Sukses", "Bersama", "Timur", "Raya", "Murni")
_CORPORATE_SUFFIX = ("Elektronika", "Elektrindo", "Niaga", "Distribusindo", "Sarana Elektrik",
                     "Nusantara", "Persada")

TRAINING_RATE = 0.16  # share of reps finishing a product training in a month
CERTIFICATION_RATE = 0.04
OUTLET_RATE = {"UTAMA": 0.25, "MADYA": 0.08, "PRATAMA": 0.02}  # partners opening an outlet/month
MONTH_GROWTH = 0.06  # the program works: each month sells a little more than the last


def demo_scoring() -> ScoringRules:
    """5 points a unit plus 10 per full Rp 1.000.000, new launches ×2, capped at 2,000 per line so
    one bulk order cannot win a month on its own."""
    return ScoringRules(
        points_per_unit=Decimal(5),
        amount_step=Decimal(1_000_000),
        points_per_amount_step=Decimal(10),
        sku_multipliers={sku: Decimal(2) for sku in NEW_LAUNCH_SKUS},
        activity_points={
            EventType.TRAINING: 50,
            EventType.CERTIFICATION: 150,
            EventType.OUTLET_OPENED: 300,
        },
        cap_per_event=2_000,
    )


def demo_tiers() -> TierLadder:
    """Units per month: reachable for a shop at Bronze, a stretch for a distributor at Platinum."""
    return TierLadder(
        metric=TierMetric.UNITS,
        tiers=(
            Tier("Bronze", 10, 100),
            Tier("Silver", 25, 300),
            Tier("Gold", 50, 750),
            Tier("Platinum", 100, 1_500),
        ),
    )


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoInfo:
    """What was seeded: enough to log in, call the API and check the counts."""

    program_code: str
    program_name: str
    regions: int
    leagues: int
    partners: int
    reps: int
    products: int
    history_events: int  # accepted by ingest_events, one ledger entry each
    logins: list[tuple[str, str, str]]  # (role, email, password)
    api_key: str
    seconds: float


@dataclass(frozen=True)
class _RepRow:
    code: str
    partner_code: str
    league: str
    activity: float  # this person's appetite for selling: a few stars, many steady, some idle


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    """ASCII letters and digits only, for e-mail local parts and domains."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain.lower())


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _local_midnight(day: date) -> datetime:
    # Asia/Jakarta has no DST, so local midnight is unambiguous.
    return datetime.combine(day, datetime.min.time(), tzinfo=ZONE).astimezone(UTC)


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, float]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _person(rng: random.Random, tradition: str) -> tuple[str, str]:
    """(full name, e-mail local part), e.g. ("Maruli Siregar", "maruli.siregar")."""
    t = PEOPLE[tradition]
    woman = rng.random() < 0.42  # roughly the share of women on Indonesian sales floors
    seconds = t.women_second if woman else t.men_second
    if rng.random() < t.single:
        only = rng.choice(seconds)
        return only, _slug(only)
    given = rng.choice(t.women if woman else t.men)
    second = rng.choice(seconds)
    if second == given:
        second = seconds[(seconds.index(second) + 1) % len(seconds)]
    return f"{given} {second}", f"{_slug(given)}.{_slug(second)}"


def _trade_name(rng: random.Random, form: str, city: str) -> tuple[str, str]:
    """(trade name, domain stem) such as ("CV Sinar Makmur Elektronik", "sinarmakmur")."""
    first, second = rng.choice(_NAME_FIRST), rng.choice(_NAME_SECOND)
    core = f"{first} {second}"
    roll = rng.random()
    if form == "PT":
        suffix = rng.choice(_CORPORATE_SUFFIX)
        name = f"PT {core} {suffix}"
        stem = _slug(core + suffix.split()[0])
    elif form == "CV":
        name = f"CV {core} Elektronik" if roll < 0.5 else f"CV {core}"
        stem = _slug(core)
    elif form == "UD":
        name = f"UD {core}"
        stem = _slug(core)
    elif roll < 0.4:
        name = f"Toko Elektronik {core}"
        stem = _slug(core) + "elektronik"
    elif roll < 0.6:
        name = f"Toko {core} {city.split()[-1]}"
        stem = _slug(core + city.split()[-1])
    else:
        name = f"Toko {core}"
        stem = _slug(core)
    return name, stem


def _sale_time(rng: random.Random, day: date) -> datetime:
    """A moment of trading hours (08:30-21:00 WIB), busiest in the afternoon."""
    seconds = int(rng.triangular(8.5 * 3600, 21 * 3600, 15 * 3600))
    local = datetime.combine(day, datetime.min.time(), tzinfo=ZONE) + timedelta(seconds=seconds)
    return local.astimezone(UTC)


def _sale_line(rng: random.Random, league: _LeagueSpec, product: _ProductSpec) -> tuple[int, int]:
    """(units, rupiah) of one invoice line: distributors buy by the carton, shops one by one,
    cheap goods in bigger quantities, and dealers rarely pay full list price."""
    mean = league.units_per_line * (1.6 if product.price < 1_000_000 else 1.0)
    if product.price > 8_000_000:
        mean = max(1.0, mean * 0.4)
    units = max(1, round(rng.gammavariate(2.0, mean / 2.0)))
    discount = rng.choice((0, 0, 0, 0.02, 0.03, 0.05, 0.08))
    amount = int(units * product.price * (1 - discount)) // 1_000 * 1_000
    return units, max(amount, 1_000)


_PRODUCT_WEIGHTS = [p.popularity for p in PRODUCTS]


# --------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------


def seed_demo(db: Database, now: datetime) -> DemoInfo | None:
    """Seed the demo program into an empty database; do nothing (None) if any program exists.

    The base data (program, people, catalog, logins, API key) is one transaction, which also
    checks that no program exists, so two processes starting at once seed one demo, not two.
    The history then follows in ingestion batches of ``BATCH_SIZE``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    started = time.perf_counter()
    rng = random.Random(SEED)

    local_today = now.astimezone(ZONE).date()
    first_month = _add_months(local_today.replace(day=1), -HISTORY_MONTHS)
    starts_at = _local_midnight(first_month)
    ends_at = _local_midnight(_add_months(first_month, PROGRAM_MONTHS))
    year = local_today.year
    code = f"JN{year}"

    try:
        with db.write() as s:
            if s.execute(sa.select(col(Program.id)).limit(1)).first() is not None:
                return None
            program = Program(
                code=code,
                name=f"Juara Nusantara {year}",
                objective=(
                    f"{VENDOR_NAME}: grow sell-out through our dealer network by 15% over last "
                    "year, and sell 12,000 units of the two new launches (QLED Google TV 55\" and "
                    "AC Split Inverter 1 PK) by the end of the program, with every region above "
                    "90% of its monthly target."
                ),
                starts_at=starts_at,
                ends_at=ends_at,
                cadence="month",
                timezone=str(ZONE),
                currency="IDR",
                budget_minor=3_600_000_000 * 100,  # Rp 3,6 miliar for the year
                scoring=demo_scoring().to_data(),
                tiers=demo_tiers().to_data(),
            )
            s.add(program)
            regions = [Region(code=r.code, name=r.name) for r in REGIONS]
            leagues = [
                League(code=lg.code, name=lg.name, position=i)
                for i, lg in enumerate(LEAGUES, start=1)
            ]
            s.add_all([*regions, *leagues])
            s.add_all(
                Product(sku=p.sku, name=f"Nusantara {p.name}", category=p.category,
                        unit_price_minor=p.price * 100)
                for p in PRODUCTS
            )
            s.flush()
            partners, reps, emails = _seed_people(s, rng, regions, leagues)
            logins = _seed_logins(s, rng, regions, partners, emails)
            api_key = create_api_key(s, program, API_KEY_NAME)
    except IntegrityError:
        # Another process seeded the demo between our check and our insert.
        log.info("demo already seeded by another process")
        return None

    history = _history(rng, partners, reps, starts_at, now)
    accepted = 0
    for offset in range(0, len(history), BATCH_SIZE):
        batch = history[offset : offset + BATCH_SIZE]
        report = ingest_events(db, program, HISTORY_SOURCE, batch, now, index_offset=offset)
        accepted += report.accepted
        _check(report, len(batch))
    seed_demo_badges(db, program, now)  # definitions, then what the history earned
    seed_demo_challenges(db, program, now)  # live, already moved by the history

    seconds = time.perf_counter() - started
    log.info("demo %s seeded: %d partners, %d reps, %d history events in %.1f s",
             code, len(partners), len(reps), accepted, seconds)
    return DemoInfo(
        program_code=code,
        program_name=program.name,
        regions=len(REGIONS),
        leagues=len(LEAGUES),
        partners=len(partners),
        reps=len(reps),
        products=len(PRODUCTS),
        history_events=accepted,
        logins=logins,
        api_key=api_key,
        seconds=seconds,
    )


def _check(report: IngestReport, sent: int) -> None:
    # The history is generated here, so anything not accepted is a bug in this module.
    if report.accepted != sent:
        raise RuntimeError(
            f"demo history: {report.accepted} of {sent} accepted, "
            f"{report.duplicates} duplicates, rejected: {report.rejected[:3]}"
        )


@dataclass
class _PartnerRow:
    id: int
    code: str
    name: str
    domain: str
    region: _RegionSpec
    region_id: int
    league: _LeagueSpec


def _seed_people(
    s: Any, rng: random.Random, regions: list[Region], leagues: list[League]
) -> tuple[list[_PartnerRow], list[_RepRow], set[str]]:
    """Partners spread over regions by weight, leagues by size, reps per partner by league."""
    league_plan = [lg for lg in LEAGUES for _ in range(lg.partners)]
    rng.shuffle(league_plan)
    numbers = sorted(rng.sample(range(1, 1_000), len(league_plan)))
    region_of = {r.code: r for r in regions}
    league_of = {lg.code: lg for lg in leagues}

    names: set[str] = set()
    domains: set[str] = set()
    planned: list[tuple[str, str, str, str, _RegionSpec, _LeagueSpec]] = []
    for number, league in zip(numbers, league_plan, strict=True):
        region = rng.choices(REGIONS, weights=[r.weight for r in REGIONS])[0]
        city = rng.choice(region.cities)
        form = rng.choice(league.legal_forms)
        while True:
            name, stem = _trade_name(rng, form, city)
            if name not in names:
                break
        names.add(name)
        domain = f"{stem}.co.id"
        if domain in domains:
            domain = f"{stem}{_slug(city)}.co.id"
        n = 2
        while domain in domains:
            domain, n = f"{stem}{n}.co.id", n + 1
        domains.add(domain)
        planned.append((f"{region.code}-{number:04d}", name, city, domain, region, league))

    rows = [
        {"code": c, "name": nm, "city": city, "region_id": region_of[rg.code].id,
         "league_id": league_of[lg.code].id, "anonymous": False}
        for c, nm, city, _d, rg, lg in planned
    ]
    ids = s.execute(
        sa.insert(Partner).returning(col(Partner.id), sort_by_parameter_order=True), rows
    ).scalars().all()
    partners = [
        _PartnerRow(pid, c, nm, d, rg, region_of[rg.code].id or 0, lg)
        for pid, (c, nm, _city, d, rg, lg) in zip(ids, planned, strict=True)
    ]

    # Reps per partner by league, nudged so the total is exactly REP_COUNT.
    counts = [rng.randint(*p.league.reps) for p in partners]
    while sum(counts) != REP_COUNT:
        i = rng.randrange(len(partners))
        low, high = partners[i].league.reps
        if sum(counts) < REP_COUNT and counts[i] < high:
            counts[i] += 1
        elif sum(counts) > REP_COUNT and counts[i] > low:
            counts[i] -= 1

    emails: set[str] = set()
    rep_rows: list[dict[str, Any]] = []
    reps: list[_RepRow] = []
    for partner, count in zip(partners, counts, strict=True):
        for k in range(1, count + 1):
            tradition = _weighted(rng, partner.region.people)
            name, local = _person(rng, tradition)
            email, n = f"{local}@{partner.domain}", 2
            while email in emails:
                email, n = f"{local}{n}@{partner.domain}", n + 1
            emails.add(email)
            code = f"{partner.code}-{k:02d}"
            rep_rows.append(
                {"code": code, "name": name, "email": email, "partner_id": partner.id,
                 "anonymous": False}
            )
            # Lognormal: most reps sell steadily, a few are stars, ~6% sold nothing lately.
            activity = 0.0 if rng.random() < 0.06 else rng.lognormvariate(0, 0.5)
            reps.append(_RepRow(code, partner.code, partner.league.code, activity))
    s.execute(sa.insert(Rep), rep_rows)
    return partners, reps, emails


def _seed_logins(
    s: Any, rng: random.Random, regions: list[Region], partners: list[_PartnerRow],
    emails: set[str],
) -> list[tuple[str, str, str]]:
    """Four people, one per role, who see each other's world: the regional manager runs Jawa
    Timur, the partner admin owns a mid-size dealer there, and the rep works at that dealer."""
    region = next(r for r in regions if r.code == "JTM")
    partner = next(p for p in partners if p.region.code == "JTM" and p.league.code == "MADYA")
    rep_id, rep_name, rep_email = s.execute(
        sa.select(col(Rep.id), col(Rep.name), col(Rep.email))
        .where(col(Rep.partner_id) == partner.id)
        .order_by(col(Rep.code))
        .limit(1)
    ).one()
    owner_name, owner_local = _person(rng, "tionghoa")
    owner_email = f"{owner_local}@{partner.domain}"
    if owner_email in emails:
        owner_email = f"pemilik@{partner.domain}"
    assert region.id is not None
    people: list[tuple[Role, str, str, dict[str, Any]]] = [
        (Role.PROGRAM_ADMIN, f"admin@{VENDOR_DOMAIN}", "Ratna Kusumawardani", {}),
        (Role.REGIONAL_MANAGER, f"rm.jatim@{VENDOR_DOMAIN}", "Hendra Wicaksono",
         {"region_ids": (region.id,)}),
        (Role.PARTNER_ADMIN, owner_email, owner_name, {"partner_id": partner.id}),
        (Role.REP, rep_email, rep_name, {"partner_id": partner.id, "rep_id": rep_id}),
    ]
    logins = []
    for role, email, name, links in people:
        user: User = create_user(s, email, name, DEMO_PASSWORD, role, **links)
        logins.append((role.value, user.email, DEMO_PASSWORD))
    return logins


def _history(
    rng: random.Random, partners: list[_PartnerRow], reps: list[_RepRow], starts_at: datetime,
    now: datetime,
) -> list[dict[str, Any]]:
    """Sales, trainings, certifications and outlet openings from the program start up to now,
    in time order, with ids and per-partner invoice numbers as an ERP export would have them."""
    leagues = {lg.code: lg for lg in LEAGUES}
    today = now.astimezone(ZONE).date()
    month = starts_at.astimezone(ZONE).date()
    raw: list[tuple[datetime, str, str, str | None, dict[str, Any]]] = []
    index = 0
    while month <= today:
        days_in_month = calendar.monthrange(month.year, month.month)[1]
        days = [month + timedelta(days=d) for d in range(days_in_month)]
        days = [d for d in days if d <= today]
        share = len(days) / days_in_month
        # Sundays are quieter, Saturdays busy: the shop floor's week.
        day_weights = [0.55 if d.weekday() == 6 else 1.15 if d.weekday() == 5 else 1.0
                       for d in days]
        growth = (1 + MONTH_GROWTH) ** index
        for rep in reps:
            league = leagues[rep.league]
            expected = league.lines_per_rep_month * rep.activity * growth * share
            for _ in range(_poisson(rng, expected)):
                product = rng.choices(PRODUCTS, weights=_PRODUCT_WEIGHTS)[0]
                units, amount = _sale_line(rng, league, product)
                day = rng.choices(days, weights=day_weights)[0]
                raw.append((_sale_time(rng, day), "sale", rep.partner_code, rep.code,
                            {"sku": product.sku, "units": units, "amount": amount}))
            for activity, rate in ((EventType.TRAINING, TRAINING_RATE),
                                   (EventType.CERTIFICATION, CERTIFICATION_RATE)):
                if rep.activity > 0 and rng.random() < rate * share:
                    day = rng.choice(days)
                    raw.append(
                        (_sale_time(rng, day), activity.value, rep.partner_code, rep.code, {})
                    )
        for partner in partners:
            if rng.random() < OUTLET_RATE[partner.league.code] * share:
                day = rng.choice(days)
                raw.append((_sale_time(rng, day), EventType.OUTLET_OPENED.value, partner.code,
                            None, {}))
        month = _add_months(month, 1)
        index += 1

    raw = [r for r in raw if starts_at <= r[0] <= now]
    raw.sort(key=lambda r: r[0])
    sequences: dict[tuple[str, str], int] = {}
    events: list[dict[str, Any]] = []
    for n, (at, kind, partner_code, rep_code, extra) in enumerate(raw, start=1):
        event: dict[str, Any] = {
            "id": f"DH-{n:07d}", "type": kind, "partner": partner_code, "rep": rep_code,
            "occurred_at": at.astimezone(ZONE).isoformat(),
        }
        if kind == "sale":
            yymm = at.astimezone(ZONE).strftime("%y%m")
            seq = sequences.get((partner_code, yymm), 0) + 1
            sequences[(partner_code, yymm)] = seq
            # Fixed-width fields keep every invoice distinct after normalisation (which drops
            # separators and leading zeros), so no real sale is mistaken for a duplicate.
            event["invoice"] = f"INV/{yymm}/{partner_code}/{seq:05d}"
            event.update(extra)
        events.append(event)
    return events


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; means here are small (a rep's sale lines in a month)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


# --------------------------------------------------------------------------------------------
# Live simulator
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SimWorld:
    program: Program
    reps: list[_RepRow]
    weights: list[float]
    hot: list[_RepRow]  # reps of the demo logins' dealer, so the demo user sees boards move


def _load_world(db: Database, program_code: str) -> _SimWorld | None:
    with db.session() as s:
        program = s.execute(
            sa.select(Program).where(col(Program.code) == program_code)
        ).scalar_one_or_none()
        if program is None:
            return None
        rows = s.execute(
            sa.select(col(Rep.code), col(Partner.code), col(League.code))
            .join(Partner, col(Partner.id) == col(Rep.partner_id))
            .join(League, col(League.id) == col(Partner.league_id))
            .where(col(Rep.anonymous).is_(False))
            .order_by(col(Rep.code))
        ).all()
        demo_partners = set(
            s.execute(
                sa.select(col(User.partner_id)).where(col(User.partner_id).is_not(None))
            ).scalars()
        )
        demo_partner_codes = set(
            s.execute(
                sa.select(col(Partner.code)).where(col(Partner.id).in_(demo_partners))
            ).scalars()
        ) if demo_partners else set()
    leagues = {lg.code: lg for lg in LEAGUES}
    reps = [_RepRow(r[0], r[1], r[2], 1.0) for r in rows]
    weights = [
        leagues[r.league].lines_per_rep_month if r.league in leagues else 5.0 for r in reps
    ]
    hot = [r for r in reps if r.partner_code in demo_partner_codes]
    return _SimWorld(program, reps, weights, hot)


async def simulate_sales(
    db: Database,
    program_code: str,
    stop: asyncio.Event,
    clock: Callable[[], datetime],
    interval: float = 1.5,
    rng_seed: int | None = None,
) -> None:
    """Ingest 1-4 realistic sales every ``interval`` seconds until ``stop`` is set.

    Sales go through ``ingest_events`` (in a worker thread, so the event loop keeps serving
    pages and websockets) exactly like an ERP's would, so the demo's live boards show what
    production would show. Any error is logged and the loop carries on: a demo feature must
    never take the server down.
    """
    rng = random.Random(rng_seed)
    # Ids must be new on every run, even with a fixed seed or a frozen clock, or a restarted
    # simulator would only produce duplicates.
    run = "".join(secrets.choice(string.ascii_uppercase) for _ in range(6))
    leagues = {lg.code: lg for lg in LEAGUES}
    world: _SimWorld | None = None
    counter = ticks = 0
    warned = False
    while not stop.is_set():
        ticks += 1
        if ticks % RELOAD_EVERY == 0:
            world = None  # pick up an admin's new scoring rules, reps and partners
        try:
            if world is None:
                world = await asyncio.to_thread(_load_world, db, program_code)
                if world is None and not warned:
                    log.warning("simulator: program %s not found; retrying quietly", program_code)
                    warned = True
            if world is not None and world.reps:
                now = clock()
                events = []
                for _ in range(rng.randint(1, 4)):
                    counter += 1
                    use_hot = world.hot and rng.random() < 0.15
                    rep = (rng.choice(world.hot) if use_hot
                           else rng.choices(world.reps, weights=world.weights)[0])
                    league = leagues.get(rep.league, LEAGUES[-1])
                    product = rng.choices(PRODUCTS, weights=_PRODUCT_WEIGHTS)[0]
                    units, amount = _sale_line(rng, league, product)
                    local = now.astimezone(ZONE)
                    events.append({
                        "id": f"SIM-{run}-{counter}",
                        "type": "sale",
                        "partner": rep.partner_code,
                        "rep": rep.code,
                        "sku": product.sku,
                        "units": units,
                        "amount": amount,
                        "occurred_at": local.isoformat(),
                        "invoice": f"POS/{rep.partner_code}/{local:%y%m%d}/{run}{counter}",
                    })
                report = await asyncio.to_thread(
                    ingest_events, db, world.program, SIMULATOR_SOURCE, events, now
                )
                if report.accepted:  # after the commit, off the event loop
                    await asyncio.to_thread(settle_badges, db, world.program, now)
                if report.rejected:
                    log.warning("simulator: %d sale(s) rejected: %s",
                                len(report.rejected), report.rejected[0]["error"])
        except Exception:
            log.exception("simulator: tick failed; continuing")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
