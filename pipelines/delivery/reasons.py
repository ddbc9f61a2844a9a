"""What a quarantine reason code means for the steward who sent the bundle, in plain words.

The coordinator's receipt carries the code only (its wire format is fixed, SPEC §6); these
sentences say what happened and what to do. A code not listed here (a newer coordinator) is shown
as itself with a line to ask the coordinator.
"""

from __future__ import annotations

PLAIN: dict[str, str] = {
    "TOO_LARGE": "the file was larger than the coordinator accepts; ask the coordinator about the size limit",
    "FRAMING_INVALID": "the file arrived damaged or incomplete; send it again",
    "HEADER_INVALID": "the file arrived damaged (its header could not be read); send it again",
    "FORMAT_UNSUPPORTED": "the coordinator does not accept this bundle format; update dvnet to the network's version",
    "SUITE_UNSUPPORTED": "the coordinator does not accept this encryption suite; update dvnet to the network's version",
    "SIGNATURE_INVALID": "the coordinator could not confirm it came from your agency: the signing key in your keys/ folder "
    "is not the one in the network's registry, or the file was changed on the way",
    "WRONG_RECIPIENT": "it was sealed for another coordinator key: your agency.yaml pins an old or different coordinator key",
    "NOT_YET_VALID": "it was dated in the future: check this computer's clock, then contribute again",
    "EXPIRED": "it arrived after its validity ended: contribute again and send it straight away",
    "DECRYPT_FAILED": "the coordinator could not open it (damaged, or sealed for another key); contribute again",
    "MANIFEST_INVALID": "its inside description could not be read; contribute again",
    "DATA_HASH_MISMATCH": "its contents were changed after sealing; contribute again",
    "MANIFEST_MISMATCH": "its inside description does not match its label; contribute again",
    "AGENCY_UNKNOWN": "the network's registry does not list your agency id; ask the coordinator to register it",
    "AGENCY_SUSPENDED": "your agency is suspended in the network's registry; ask the coordinator",
    "TIER_VIOLATION": "your agency's tier does not allow this contract or mode; ask the coordinator",
    "CONTRACT_UNKNOWN": "the coordinator does not know this contract version; ask the coordinator which one to use",
    "CONTRACT_VIOLATION": "the data broke the contract's rules when the coordinator checked it again; ask the coordinator "
    "for the column and rule, then fix the extract and contribute again",
    "DSA_INVALID": "no data-sharing agreement in force covers this research extract; ask the coordinator",
    "PAYLOAD_INVALID": "the data inside could not be read; contribute again",
    "RECORD_COUNT_MISMATCH": "the number of rows inside did not match its label; contribute again",
    "REPLAY": "a different file with the same bundle id was loaded before; contribute again to get a new bundle",
    "SEQUENCE_ROLLBACK": "its sequence number is not above the last one loaded: it is older than a bundle already loaded",
    "SUPERSEDES_INVALID": "the bundle it says it corrects is not a current bundle of yours for that contract and period; "
    "check the bundle id given to --supersedes",
    "PERIOD_ALREADY_LOADED": "the coordinator already counts a bundle of yours for this contract and quarter, and this one did not "
    "say it corrects it; to correct the loaded one, contribute again with --supersedes and the loaded bundle's id (its row's bundle id in `dvnet receipts`)",
    "PERIOD_OUT_OF_WINDOW": "its quarter is after the current one or too long ago for the network; check --period",
    "COUNT_OUT_OF_BOUNDS": "a count in it is larger than the records it says it counted; contribute again (and tell the coordinator)",
    "ROWS_DUPLICATED": "the same record appears in it more than once; check the extract for repeated rows, then contribute again",
    "ROW_OUTSIDE_PERIOD": "some records in it are dated outside its quarter; check the extract and --period, then contribute again",
    "ORG_NOT_REGISTERED": "an organisation column (such as receiving_org) holds something that is not a registered organisation id; "
    "fix the extract's organisation codes (the coordinator's public file lists them: pin its current one with `dvnet agency pin-coordinator`), then contribute again",
    "UNEXPECTED_ERROR": "the coordinator could not process it; ask the coordinator to look at its quarantine log",
}


def plain(reason: str | None) -> str:
    """One sentence for a quarantine reason; the code itself is always shown beside it."""
    if reason is None:
        return ""
    return PLAIN.get(reason, "see the reason code; ask the coordinator what it means")
