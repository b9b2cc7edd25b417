"""The data-center operations of the knowledge-base family (Bailian): wire models, handlers and registry entries.

Paths, methods and parameters are those of the official SDKs (``alibabacloud-bailian20231229``'s ``client.py``):
ApplyFileUploadLease and AddCategory/ListCategory/AddFile send form bodies, ListFile a query string, DescribeFile,
DeleteFile and DeleteCategory only their path. Responses carry the keys the SDKs' response models read.

Listings page with ``MaxResults`` and ``NextToken``: the token is opaque to callers (today the offset of the next page,
as text) and a token Sift did not issue is a 400.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import Field, field_validator

from chalicelib.api import responses
from chalicelib.api.bailian import ID_PATTERN
from chalicelib.api.calls import Access, Call, LambdaSize, Operation
from chalicelib.api.common import RequestModel
from chalicelib.api.envelopes import Family
from chalicelib.api.responses import Shape
from chalicelib.core.data_center import MAX_FILE_BYTES
from chalicelib.core.errors import InvalidParameterError
from chalicelib.core.ports.catalog import Category, DataCenterFile

if TYPE_CHECKING:  # annotations only: importing app does not load the services
    from chalicelib.core.data_center import DataCenterService

CategoryType = Literal["UNSTRUCTURED", "SESSION_FILE"]
DataCenterId = Annotated[str, Field(pattern=ID_PATTERN)]
LEASE_ID_PATTERN: Final = r"^lease_[0-9a-f]{32}$"
LeaseId = Annotated[str, Field(pattern=LEASE_ID_PATTERN)]
# A file name: 4-128 characters (the documented range), no path separators, no control characters.
_FILE_NAME = re.compile(r"^[^/\\\x00-\x1f\x7f]{4,128}$")
# AddFile's documented tag limits: at most 100 tags, 700 characters in all.
MAX_TAGS = 100
MAX_TAG_CHARS = 700
MAX_RESULTS = 200
DEFAULT_MAX_RESULTS = 20
# The documented parsers. Sift parses every file with its own extraction whichever is named, and records the name.
Parser = Literal["DASHSCOPE_DOCMIND", "DOCMIND", "DOCMIND_DIGITAL", "DOCMIND_LLM_VERSION", "DASH_QWEN_VL_PARSER",
                 "DOCMIND_LLM_VERSION_MEDIA", "AUTO_SELECT"]


class ApplyFileUploadLeaseRequest(RequestModel):
    """``UseInternalEndpoint`` asks for a VPC-internal URL on the original service; Sift has one endpoint, so it is
    accepted and changes nothing."""

    category_id: DataCenterId
    category_type: CategoryType = "UNSTRUCTURED"
    file_name: str
    md5: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}$")]
    size_in_bytes: Annotated[int, Field(ge=1, le=MAX_FILE_BYTES)]
    use_internal_endpoint: bool = False

    @field_validator("file_name")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        if not _FILE_NAME.match(value) or not value.strip(" ."):
            raise ValueError("must be a file name of 4-128 characters without '/', '\\' or control characters")
        return value


class AddFileRequest(RequestModel):
    """``Parser``: any documented parser (Sift parses with its own extraction whichever is named)."""

    lease_id: LeaseId
    parser: Parser = "DASHSCOPE_DOCMIND"
    category_id: DataCenterId
    category_type: CategoryType = "UNSTRUCTURED"
    tags: Annotated[list[Annotated[str, Field(min_length=1, max_length=MAX_TAG_CHARS)]],
                    Field(max_length=MAX_TAGS)] | None = None

    @field_validator("tags")
    @classmethod
    def _tags_within_budget(cls, value: list[str] | None) -> list[str] | None:
        if value and sum(len(tag) for tag in value) > MAX_TAG_CHARS:
            raise ValueError(f"must hold at most {MAX_TAG_CHARS} characters in all")
        return value


class FileRef(RequestModel):
    file_id: DataCenterId


class CategoryRef(RequestModel):
    category_id: DataCenterId


class Page(RequestModel):
    """``MaxResults`` as documented: below 1 means the default (20), above 200 means 200."""

    max_results: int = DEFAULT_MAX_RESULTS
    next_token: Annotated[str, Field(max_length=64)] | None = None

    @field_validator("max_results")
    @classmethod
    def _clamped(cls, value: int) -> int:
        return DEFAULT_MAX_RESULTS if value < 1 else min(value, MAX_RESULTS)

    @property
    def offset(self) -> int:
        if not self.next_token:
            return 0
        if not self.next_token.isascii() or not self.next_token.isdigit() or len(self.next_token) > 12:
            raise InvalidParameterError("NextToken", "is not a token this service issued")
        return int(self.next_token)


class ListFileRequest(Page):
    """``FileName`` matches a name exactly, with or without its extension; ``FileIds`` at most 20."""

    category_id: DataCenterId
    file_ids: Annotated[list[DataCenterId], Field(max_length=20)] | None = None
    file_name: Annotated[str, Field(max_length=128)] | None = None


class AddCategoryRequest(RequestModel):
    category_name: Annotated[str, Field(min_length=1, max_length=64)]
    category_type: CategoryType = "UNSTRUCTURED"
    parent_category_id: DataCenterId | None = None


class ListCategoryRequest(Page):
    """``CategoryName`` keeps the categories of exactly that name."""

    category_type: CategoryType = "UNSTRUCTURED"
    category_name: Annotated[str, Field(max_length=64)] | None = None
    parent_category_id: DataCenterId | None = None


# --- handlers ---------------------------------------------------------------------------------------------------------


def _page(items: list[Any], page: Page, key: str, view: Any) -> dict[str, Any]:
    offset = page.offset
    chosen = items[offset : offset + page.max_results]
    following = offset + len(chosen)
    has_next = following < len(items)
    return {key: [view(item) for item in chosen], "HasNext": has_next, "MaxResults": page.max_results,
            "NextToken": str(following) if has_next else "", "TotalCount": len(items)}


def _file_view(file: DataCenterFile) -> dict[str, Any]:
    return {
        "FileId": file.file_id, "CategoryId": file.category_id, "FileName": file.file_name, "FileType": file.file_type,
        "SizeInBytes": file.size, "Status": file.status, "Parser": file.parser, "Tags": list(file.tags),
        "ParseErrorMessage": file.parse_error, "CreateTime": file.created_at,
    }


def _category_view(category: Category) -> dict[str, Any]:
    return {"CategoryId": category.category_id, "CategoryName": category.name, "CategoryType": category.category_type,
            "ParentCategoryId": category.parent_id, "IsDefault": category.category_id == "default"}


def _apply_lease(service: DataCenterService, call: Call) -> dict[str, Any]:
    request: ApplyFileUploadLeaseRequest = call.request
    lease = service.apply_upload_lease(
        call.workspace_id, request.category_id, category_type=request.category_type, file_name=request.file_name,
        md5=request.md5, size=request.size_in_bytes, endpoint=call.endpoint,
    )
    target = lease.target
    return {"FileUploadLeaseId": lease.lease_id, "Type": "HTTP",
            "Param": {"Method": target.method, "Url": target.url, "Headers": target.headers}}


def _add_file(service: DataCenterService, call: Call) -> dict[str, Any]:
    request: AddFileRequest = call.request
    file = service.add_file(
        call.workspace_id, lease_id=request.lease_id, parser=request.parser, category_id=request.category_id,
        category_type=request.category_type, tags=request.tags or (),
    )
    return {"FileId": file.file_id, "Parser": file.parser}


def _describe_file(service: DataCenterService, call: Call) -> dict[str, Any]:
    return _file_view(service.file(call.workspace_id, call.request.file_id))


def _delete_file(service: DataCenterService, call: Call) -> dict[str, Any]:
    service.delete_file(call.workspace_id, call.request.file_id)
    return {"FileId": call.request.file_id}


def _list_files(service: DataCenterService, call: Call) -> dict[str, Any]:
    request: ListFileRequest = call.request
    files = service.list_files(call.workspace_id, category_id=request.category_id, file_ids=request.file_ids,
                               name=request.file_name)
    return _page(files, request, "FileList", _file_view)


def _add_category(service: DataCenterService, call: Call) -> dict[str, Any]:
    request: AddCategoryRequest = call.request
    category = service.add_category(call.workspace_id, name=request.category_name,
                                    category_type=request.category_type, parent_id=request.parent_category_id)
    return {"CategoryId": category.category_id, "CategoryName": category.name}


def _list_categories(service: DataCenterService, call: Call) -> dict[str, Any]:
    request: ListCategoryRequest = call.request
    categories = service.list_categories(call.workspace_id, category_type=request.category_type,
                                         parent_id=request.parent_category_id, name=request.category_name)
    return _page(categories, request, "CategoryList", _category_view)


def _delete_category(service: DataCenterService, call: Call) -> dict[str, Any]:
    service.delete_category(call.workspace_id, call.request.category_id)
    return {"CategoryId": call.request.category_id}


_DC: Final = "/{WorkspaceId}/datacenter"


def _operation(
    name: str, method: str, path: str, model: type[RequestModel], response: type[Shape], handler: Any, access: Access,
    **lambda_: Any,
) -> Operation:
    return Operation(name, method, f"{_DC}{path}", Family.BAILIAN, model, response, handler, access,
                     component="data_center", **lambda_)


DATA_CENTER_OPERATIONS: tuple[Operation, ...] = (
    _operation("ApplyFileUploadLease", "POST", "/category/{CategoryId}", ApplyFileUploadLeaseRequest,
               responses.LeaseData, _apply_lease, Access.FILES_UPLOAD),
    # AddFile parses the upload (the indexer's extraction): a large PDF needs the indexing size and time.
    _operation("AddFile", "PUT", "/file", AddFileRequest, responses.AddedFile, _add_file, Access.FILES_ADD,
               size=LambdaSize.INDEXING, timeout_s=120),
    _operation("DescribeFile", "GET", "/file/{FileId}", FileRef, responses.FileView, _describe_file,
               Access.CATALOG_READ),
    _operation("DeleteFile", "DELETE", "/file/{FileId}", FileRef, responses.FileRefData, _delete_file,
               Access.FILES_DELETE),
    _operation("ListFile", "GET", "/files", ListFileRequest, responses.ListFileData, _list_files, Access.CATALOG_READ),
    _operation("AddCategory", "POST", "/category", AddCategoryRequest, responses.AddedCategory, _add_category,
               Access.CATALOG_WRITE),
    _operation("ListCategory", "POST", "/categories", ListCategoryRequest, responses.ListCategoryData,
               _list_categories, Access.CATALOG_READ),
    _operation("DeleteCategory", "DELETE", "/category/{CategoryId}", CategoryRef, responses.CategoryRefData,
               _delete_category, Access.CATALOG_WRITE),
)
