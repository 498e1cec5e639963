"""Seeded Structured Planning content: segments and members, scenarios, currencies, users, rules.

Shapes follow section 3b/6a of `shared/api/planful.md`: PascalCase keys, bare arrays, the Account
segment's `ParentMember*` fields and the Company segment's currency. Everything here is a pure
function of the seed options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.planful.hierarchy import Node, parse_outline

ACCOUNT = """
TOTAL Total Accounts
  IS Income Statement | normal=MTD; currency_type=AVG; @Cash Flow Category=Operating
    GP Gross Profit
      REV Revenue | type=Revenue
        4000 Product Revenue
        4100 Subscription Revenue
        4200 Services Revenue
        4300 Sales Returns and Allowances | op=-
      COS Cost of Sales | type=Expense
        5000 Cost of Goods Sold
        5100 Hosting and Infrastructure
        5200 Professional Services Cost
    OPEX Operating Expenses | type=Expense
      PERS Personnel
        6000 Salaries and Wages
        6010 Bonus and Commission
        6020 Payroll Taxes
        6030 Employee Benefits
      FAC Facilities
        6500 Rent
        6510 Utilities
        6520 Repairs and Maintenance
      TRAV Travel and Entertainment
        6600 Airfare
        6610 Lodging
        6620 Meals
      GA General and Administrative
        7000 Professional Fees
        7010 Software Subscriptions
        7020 Insurance
        7030 Bank Charges
        7040 Depreciation Expense | @Cash Flow Category=Non-cash
    OTH Other Income and Expense | type=Expense
      8000 Interest Income | type=Revenue
      8100 Interest Expense
      8200 FX Gain and Loss | @Cash Flow Category=Non-cash
  BS Balance Sheet | normal=Balance; currency_type=EOP; @Cash Flow Category=Operating
    ASSETS Total Assets | type=Asset
      CA Current Assets
        1000 Cash and Cash Equivalents | @Cash Flow Category=Cash
        1100 Accounts Receivable
        1150 Allowance for Doubtful Accounts | op=-
        1200 Inventory
        1300 Prepaid Expenses
      FA Fixed Assets | @Cash Flow Category=Investing
        1500 Computer Equipment
        1510 Furniture and Fixtures
        1550 Accumulated Depreciation | op=-
    LIAB Total Liabilities | type=Liability
      CL Current Liabilities
        2000 Accounts Payable
        2100 Accrued Liabilities
        2200 Deferred Revenue
      LTL Long-term Liabilities | @Cash Flow Category=Financing
        2500 Long-term Debt
    EQ Equity | type=Equity; currency_type=HIST; @Cash Flow Category=Financing
      3000 Common Stock
      3100 Retained Earnings
  STAT Statistical Accounts | type=Statistical; op=~; normal=Balance; currency_type=NT
    9000 Headcount
    9010 Square Footage | status=Inactive
"""

COMPANY = """
CONS Consolidated | currency=USD; @Consolidation Method=Full
  AMER Americas | @Region=Americas
    US01 Acme Corp US
    US02 Acme Labs Inc
    CA01 Acme Canada Ltd | currency=CAD
    BR01 Acme Brasil Ltda | currency=BRL; @Consolidation Method=Proportional
  EMEA Europe, Middle East and Africa | currency=EUR; @Region=EMEA
    UK01 Acme UK Ltd | currency=GBP
    DE01 Acme GmbH
    FR01 Acme France SAS
  APAC Asia Pacific | @Region=APAC
    AU01 Acme Australia Pty Ltd | currency=AUD
    SG01 Acme Singapore Pte Ltd | currency=SGD
    JP01 Acme Japan KK | currency=JPY
"""

DEPARTMENT = """
ALLDEPT All Departments
  GA G&A | @Function=G&A
    100 Finance | @Owner=Dana Whitfield
      110 Accounting
      120 FP&A
      130 Tax
    200 Human Resources | @Owner=Marcus Oyelaran
    300 Legal | @Owner=Priya Raman
    400 Information Technology | @Owner=Tomas Lindqvist
      410 IT Infrastructure
      420 Business Systems
  SM Sales and Marketing | @Function=S&M
    500 Sales | @Owner=Grace Mbeki
      510 Sales East
      520 Sales West
      530 Sales International
    600 Marketing | @Owner=Luca Ferraro
      610 Demand Generation
      620 Product Marketing
  RD Research and Development | @Function=R&D
    700 Engineering | @Owner=Hiro Tanaka
      710 Platform Engineering
      720 Applications Engineering
    800 Product Management | @Owner=Sofia Alvarez
  OPS Operations | @Function=COGS
    900 Customer Support | @Owner=Noah Brennan
    950 Supply Chain | status=Inactive
"""

LOCATION = """
WORLD All Locations
  NA North America | @Time Zone=America
    USA United States
      NYC New York
      SFO San Francisco
      ATX Austin
    CAN Canada
      TOR Toronto
  EU Europe | @Time Zone=Europe
    GBR United Kingdom
      LON London
    DEU Germany
      BER Berlin
      MUC Munich | status=Inactive
    FRA France
      PAR Paris
  AP Asia Pacific | @Time Zone=Asia/Pacific
    AUS Australia
      SYD Sydney
    SGP Singapore
      SIN Singapore City
    JPN Japan
      TYO Tokyo
"""

PROJECT = """
ALLPROJ All Projects
  NOPROJ No Project
  CAPEX Capital Projects | @Capitalizable=Yes
    P1001 Headquarters Fit-out
    P1002 Data Center Expansion
    P1003 ERP Implementation
  OPEXP Operating Projects | @Capitalizable=No
    P2001 Brand Refresh
    P2002 Customer Onboarding Program
    P2003 Security Certification
    P2004 Market Entry Japan | status=Inactive
"""

PRODUCT = """
ALLPROD All Products
  SW Software | @Revenue Recognition=Ratable
    SWCORE Core Platform
      SKU100 Platform Standard
      SKU110 Platform Enterprise
    SWADD Add-ons
      SKU200 Analytics Add-on
      SKU210 Workflow Add-on
      SKU220 Integration Pack
  HW Hardware | @Revenue Recognition=Point in Time
    SKU300 Edge Gateway
    SKU310 Sensor Kit
  SVC Services | @Revenue Recognition=As Delivered
    SKU400 Implementation Services
    SKU410 Training
    SKU420 Premium Support
  NOPROD No Product
"""

INTERCOMPANY = """
ALLIC All Intercompany
  NONE No Intercompany
  ICP Intercompany Partners
    IC_AMER Americas Partners
      IC_US01 Acme Corp US
      IC_US02 Acme Labs Inc
      IC_CA01 Acme Canada Ltd
      IC_BR01 Acme Brasil Ltda
    IC_EMEA EMEA Partners
      IC_UK01 Acme UK Ltd
      IC_DE01 Acme GmbH
      IC_FR01 Acme France SAS
    IC_APAC APAC Partners
      IC_AU01 Acme Australia Pty Ltd
      IC_SG01 Acme Singapore Pte Ltd
      IC_JP01 Acme Japan KK
"""

CHANNEL = """
ALLCH All Channels
  DIRECT Direct | @Commissionable=Yes
    WEB Online
    FIELD Field Sales
  PARTNER Partner | @Commissionable=No
    RESELL Reseller
    DIST Distributor
    MKTPL Marketplace
  NOCH No Channel
"""

# (slot, name, COASegment type, outline); slot 1 is the natural account, slot 2 the legal entity.
SEGMENTS: tuple[tuple[int, str, str, str], ...] = (
    (1, "Account", "Account", ACCOUNT),
    (2, "Company", "Company", COMPANY),
    (3, "Department", "Generic", DEPARTMENT),
    (4, "Location", "Generic", LOCATION),
    (5, "Project", "Generic", PROJECT),
    (6, "Product", "Generic", PRODUCT),
    (7, "Intercompany", "Generic", INTERCOMPANY),
    (8, "Channel", "Generic", CHANNEL),
)

ACCOUNT_TYPES: dict[str, tuple[str, str]] = {
    # type: (CreditDebit, Variance)
    "Revenue": ("Credit", "Non Flip"),
    "Expense": ("Debit", "Flip"),
    "Asset": ("Debit", "Non Flip"),
    "Liability": ("Credit", "Flip"),
    "Equity": ("Credit", "Non Flip"),
    "Statistical": ("Debit", "Non Flip"),
}

CURRENCY_TYPES = {
    "AVG": "Average Rate",
    "EOP": "End of Period Rate",
    "HIST": "Historical Rate",
    "NT": "No Translation",
}

CURRENCIES: dict[str, str] = {
    "USD": "US Dollar",
    "CAD": "Canadian Dollar",
    "BRL": "Brazilian Real",
    "EUR": "Euro",
    "GBP": "British Pound",
    "AUD": "Australian Dollar",
    "SGD": "Singapore Dollar",
    "JPY": "Japanese Yen",
    "CHF": "Swiss Franc",
    "INR": "Indian Rupee",
}

DATA_LOAD_RULES: tuple[tuple[int, str, str], ...] = (
    (600001, "Company", "Segment Hierarchies"),
    (600003, "Account", "Segment Hierarchies"),
    (600004, "Department", "Segment Hierarchies"),
    (600010, "GL Actuals Monthly", "GL Data"),
    (600011, "GL Budget Upload", "GL Data"),
    (600012, "GL Forecast Upload", "GL Data"),
    (600015, "Translations Load", "Translations Data"),
    (600020, "AP Invoices", "Transactions"),
    (600021, "Sales Orders", "Transactions V2"),
    (600030, "Monthly FX Rates", "Currency Exchange Rates"),
    (600031, "User Provisioning", "User Load"),
    (600040, "Entity Hierarchy", "Entity Hierarchy"),
    (600041, "Department Owners", "Attribute Load"),
    (600050, "Workforce Employees", "Workforce Planning"),
)

FIRST_NAMES = (
    "Olivia", "Liam", "Amara", "Noah", "Mei", "Lucas", "Isabel", "Ethan", "Zara", "Mateo",
    "Chloe", "Arjun", "Freya", "Kofi", "Hannah", "Diego", "Sienna", "Omar", "Ingrid", "Yusuf",
)  # fmt: skip
LAST_NAMES = (
    "Anderson", "Okafor", "Nakamura", "Schmidt", "Dubois", "Rossi", "Kowalski", "Haddad",
    "Johansson", "Moreau", "Fernandes", "Chen", "O'Brien", "Patel", "Novak", "Keller",
)  # fmt: skip
NAVIGATION_ROLES = ("Admin", "Budget Manager", "Analyst", "Reviewer", "Contributor")
REPORTING_ROLES = ("Report Admin", "Report Author", "Report Viewer")
EMAIL_DOMAIN = "acme-finance.example"


@dataclass
class Segment:
    """One COA segment slot with its members (records as served) and its leaf codes."""

    number: int
    name: str
    type: str
    nodes: list[Node]
    members: list[dict[str, Any]]

    @property
    def leaf_codes(self) -> list[str]:
        return [n.code for n in self.nodes if n.is_leaf]

    def definition(self) -> dict[str, Any]:
        """The `COASegment`-like record listed by the segments endpoint."""
        return {
            "SegmentNumber": self.number,
            "Name": self.name,
            "DisplayName": self.name,
            "Type": self.type,
            "Visibility": "Visible",
            "ActiveStatus": "Active",
        }


def build_segments() -> list[Segment]:
    segments = []
    for number, name, kind, outline in SEGMENTS:
        nodes = parse_outline(outline)
        ids = {id(node): number * 1000 + index for index, node in enumerate(nodes, start=1)}
        members = [_member(node, ids, index, kind) for index, node in enumerate(nodes, start=1)]
        segments.append(Segment(number, name, kind, nodes, members))
    return segments


def _member(node: Node, ids: dict[int, int], sort: int, kind: str) -> dict[str, Any]:
    parent = node.parent
    record: dict[str, Any] = {"MemberId": ids[id(node)], "Code": node.code, "Name": node.name}
    if kind == "Account":
        record |= {
            "ParentMemberId": ids[id(parent)] if parent else None,
            "ParentMemberCode": parent.code if parent else None,
            "ParentMemberName": parent.name if parent else None,
            "ParentMemberLabel": f"{parent.code} - {parent.name}" if parent else None,
        }
    else:
        record |= {
            "ParentId": ids[id(parent)] if parent else None,
            "ParentCode": parent.code if parent else None,
        }
    record |= {
        "MemberType": "Leaf" if node.is_leaf else "Rollup",
        "RollupOperator": node.prop("op", "+"),
        "ActiveStatus": node.prop("status", "Active"),
        "Sort": sort,
        "Attributes": [{"Name": k, "Value": v} for k, v in node.inherited_attributes().items()],
        "RollupLevels": [
            {"Level": level, "Code": a.code, "Name": a.name, "Id": ids[id(a)]}
            for level, a in enumerate(node.ancestors(), start=1)
        ],
    }
    if kind == "Account":
        account_type = node.prop("type")
        credit_debit, variance = ACCOUNT_TYPES.get(account_type or "", (None, None))
        currency_type = node.prop("currency_type")
        top = node.ancestors()[1] if len(node.ancestors()) > 1 else node
        record |= {
            "AccountType": account_type,
            "AccountGroup": parent.name if parent else None,
            "CreditDebit": credit_debit,
            "NormalDataInput": node.prop("normal"),
            "Variance": variance,
            "TrialBalanceAccount": "Yes"
            if node.is_leaf and account_type != "Statistical"
            else "No",
            "ReportCategoryName": top.name if parent else None,
            "CurrencyTypeCode": currency_type,
            "CurrencyTypeName": CURRENCY_TYPES.get(currency_type or ""),
        }
    elif kind == "Company":
        code = node.prop("currency")
        record |= {"CurrencyCode": code, "CurrencyName": CURRENCIES.get(code or "")}
    return record


def build_users(count: int) -> list[dict[str, Any]]:
    """`Get_Users`-shaped users; every 7th is disabled, every 4th signs in with SAML."""
    users = []
    for index in range(count):
        first = FIRST_NAMES[index % len(FIRST_NAMES)]
        last = LAST_NAMES[(index * 7 + index // len(FIRST_NAMES)) % len(LAST_NAMES)]
        login = f"{first}.{last}".lower().replace("'", "")
        suffix = "" if index < len(FIRST_NAMES) else str(index // len(FIRST_NAMES))
        users.append(
            {
                "UserLogin": f"{login}{suffix}@{EMAIL_DOMAIN}",
                "FirstName": first,
                "LastName": last,
                "NavigationRoleName": NAVIGATION_ROLES[index % len(NAVIGATION_ROLES)],
                "ReportingRole": REPORTING_ROLES[index % len(REPORTING_ROLES)],
                "SupportRole": "Support Admin" if index == 0 else "None",
                "AuthenticationType": "SAML" if index % 4 == 3 else "Native",
                "Status": index % 7 != 6,
                "SupportId": f"SUP-{10001 + index}",
            }
        )
    return users


def build_scenarios(fiscal_years: list[int]) -> list[dict[str, Any]]:
    """Actual, one budget per year, and quarterly forecasts (3+9, 6+6, 9+3) for inner years."""
    scenarios: list[dict[str, Any]] = [
        {"Name": "Actual", "ScenarioType": "Actual", "FiscalYear": None}
    ]
    scenarios += [
        {"Name": f"{year} Budget", "ScenarioType": "Budget", "FiscalYear": year}
        for year in fiscal_years
    ]
    for year in fiscal_years[1:-1]:
        scenarios += [
            {"Name": f"{year} {done}+{12 - done}", "ScenarioType": "Forecast", "FiscalYear": year}
            for done in (3, 6, 9)
        ]
    return scenarios


def build_currencies() -> list[dict[str, str]]:
    return [{"Code": code, "Name": name} for code, name in CURRENCIES.items()]


def build_data_load_rules() -> list[dict[str, Any]]:
    return [
        {"DataLoadRuleId": rid, "Name": name, "LoadItem": item}
        for rid, name, item in DATA_LOAD_RULES
    ]
