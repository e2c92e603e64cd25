from loadlab.core.matrix import plan
from loadlab.core.results import LoadLevel

VARIANTS = ["flask-sync", "flask-gevent", "fastapi-async"]
WORKLOADS = ["json", "db-read"]
LOADS = [LoadLevel(users=16), LoadLevel(users=64)]


def make(seed: int, repeats: int = 3) -> list[str]:
    cells = plan(VARIANTS, WORKLOADS, LOADS, repeats, seed=seed, duration_s=5, warmup_s=1)
    return [f"{c.variant}/{c.workload}/{c.load.label}/r{c.repeat}" for c in cells]


def test_the_same_seed_gives_the_same_order() -> None:
    assert make(11) == make(11)


def test_another_seed_gives_another_order() -> None:
    assert make(11) != make(12)


def test_every_cell_runs_once_per_repeat_in_blocks() -> None:
    order = make(5, repeats=3)
    assert len(order) == 3 * 2 * 2 * 3
    assert len(set(order)) == len(order)
    block = len(VARIANTS) * len(WORKLOADS) * len(LOADS)
    for repeat in range(3):
        # each block holds exactly the cells of one repeat
        assert {o.rsplit("/", 1)[1] for o in order[repeat * block : (repeat + 1) * block]} == {
            f"r{repeat + 1}"
        }


def test_order_is_shuffled_not_the_product_order() -> None:
    first_block = make(5, repeats=1)
    product_order = sorted(first_block, key=lambda o: VARIANTS.index(o.split("/")[0]))
    assert first_block != product_order


def test_cell_ids_carry_order_and_are_unique() -> None:
    cells = plan(VARIANTS, WORKLOADS, LOADS, 2, seed=1, duration_s=5, warmup_s=1)
    assert [c.order for c in cells] == list(range(1, len(cells) + 1))
    assert cells[0].cell_id.startswith("001-")
