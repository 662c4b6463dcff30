"""What the demo podcast's episodes say: the one source for their synthesized audio
(``scripts/make_demo_audio.py``), episode 3's WebVTT transcript, and tests that compare a
transcription with what was spoken.

Years and other numbers are left out, so a word error rate measures hearing, not whether a
recogniser writes "twenty twelve" or "2012".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoScript:
    """One episode: its feed guid (also the audio file's stem), title and spoken sentences."""

    guid: str
    title: str
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


DEMO_SCRIPTS: tuple[DemoScript, ...] = (
    DemoScript(
        guid="tmm-demo-0001",
        title="The deep ocean's hidden currents",
        sentences=(
            "Welcome to Curious Minutes, a short science podcast.",
            "Today we follow the deep ocean's hidden currents.",
            "Near Greenland and Antarctica, sea water becomes very cold, and very salty as sea "
            "ice forms.",
            "That dense water sinks to the sea floor, thousands of meters down.",
            "From there it creeps slowly along the bottom of the Atlantic, the Indian and the "
            "Pacific oceans.",
            "Oceanographers call this the thermohaline circulation, or the global conveyor belt.",
            "A single parcel of water can take about a thousand years to complete the loop.",
            "The Gulf Stream is the warm surface branch, and it carries heat north towards Europe.",
            "Scientists track the deep flow with drifting robots called Argo floats, and with "
            "moorings anchored across the Atlantic.",
            "Some measurements suggest that the Atlantic branch has weakened, as melting "
            "glaciers make the surface water fresher and lighter.",
            "If the conveyor slowed down a lot, rainfall, sea level and fisheries on both sides "
            "of the ocean would change.",
            "Thanks for listening to Curious Minutes.",
        ),
    ),
    DemoScript(
        guid="tmm-demo-0002",
        title="How batteries age, and how to slow it",
        sentences=(
            "Welcome to Curious Minutes, a short science podcast.",
            "Today we ask how batteries age, and how to slow it.",
            "Every lithium ion battery, in a phone or in an electric car, slowly loses capacity.",
            "Inside the cell, lithium ions shuttle between a graphite anode and a metal oxide "
            "cathode.",
            "With every charge, a little lithium gets trapped in a thin crust on the anode, "
            "called the solid electrolyte interphase.",
            "Heat speeds up these side reactions, so a battery that lives in a hot car ages "
            "faster.",
            "Fast charging in cold weather can plate metallic lithium onto the anode, which "
            "wastes capacity for good.",
            "Keeping a cell completely full for days also stresses the cathode.",
            "Engineers call this calendar aging, as opposed to cycle aging.",
            "The advice is simple: avoid heat, avoid draining the battery to empty, and store "
            "it about half charged.",
            "Many phones now pause charging before the battery is full, to protect it.",
            "Thanks for listening to Curious Minutes.",
        ),
    ),
    DemoScript(
        guid="tmm-demo-0003",
        title="Why CRISPR patents are still contested",
        sentences=(
            "Welcome to Curious Minutes, a short science podcast.",
            "Today we ask why patents on CRISPR gene editing are still contested.",
            "In CRISPR gene editing, a guide RNA leads an enzyme to a chosen spot in the DNA, "
            "where it cuts.",
            "One team, at the University of California, showed the system working in a test tube.",
            "Months later, a team at the Broad Institute showed it working in human cells.",
            "Both filed patents, and the two institutes have argued ever since about who "
            "invented what.",
            "The American patent office sided with the Broad Institute, but a federal appeals "
            "court sent part of the case back for another look.",
            "In Europe, the dispute has taken a different path.",
            "Meanwhile, companies license the technology from both sides.",
            "The first approved CRISPR gene therapy treats sickle cell disease.",
            "Whoever wins, the royalties on future treatments are at stake.",
            "Thanks for listening to Curious Minutes.",
        ),
    ),
)


def demo_script(guid: str) -> DemoScript:
    """The script of the demo episode with this guid (``KeyError`` if there is none)."""
    for script in DEMO_SCRIPTS:
        if script.guid == guid:
            return script
    raise KeyError(guid)
