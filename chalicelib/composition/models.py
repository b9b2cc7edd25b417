"""Which models a stage runs, from its ``Settings``: embedders, rerankers, the rewriter and the generator.

Each adapter's module is imported by the builder that needs it: the ``local`` stage never imports the Bedrock adapters,
and a stage on Bedrock never imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.composition import AwsClients
from chalicelib.settings import RERANK_MODEL_NAMES, ConfigurationError, Settings, bedrock_model_id

if TYPE_CHECKING:
    from chalicelib.core.answer import Answerer
    from chalicelib.core.images import ImageQueryEmbedder
    from chalicelib.core.media import QueryParser
    from chalicelib.core.ports.models import Embedder, Generator, ImageEmbedder, QueryRewriter, Reranker
    from chalicelib.core.rerankers import RerankerRegistry


def build_generator(settings: Settings, clients: AwsClients | None = None) -> Generator | None:
    """The chat model of ContextualAnswer and SemanticQuery parsing; None: the local answerer and parser."""
    model_id = bedrock_model_id(settings.generator)
    if model_id is None:
        return None
    from chalicelib.models.bedrock.generators import ConverseGenerator

    return ConverseGenerator((clients or AwsClients(settings)).bedrock_runtime, model_id)


def generated_query_parser(generator: Generator) -> QueryParser:
    from chalicelib.core.llm_query_parse import GeneratedQueryParser
    from chalicelib.core.query_parse import parse_query

    return GeneratedQueryParser(generator, lambda text, vocabulary, now: parse_query(text, vocabulary, now=now))


def generated_answerer(generator: Generator) -> Answerer:
    from chalicelib.core.generated_answer import GeneratedAnswerer

    return GeneratedAnswerer(generator)


def build_embedder(settings: Settings, clients: AwsClients | None = None) -> Embedder:
    embedder: Embedder
    model_id = bedrock_model_id(settings.embedder)
    if model_id is not None:
        from chalicelib.models.bedrock import embedders

        family = _family(model_id, "SIFT_EMBEDDER")
        size_option = "dimensions" if family == "titan" else "dimension"
        embedder = _bedrock_model(
            "SIFT_EMBEDDER", embedders.build_embedder, (clients or AwsClients(settings)).bedrock_runtime, model_id,
            **{size_option: settings.embedding_dimensions},
        )
    elif settings.embedder == "hashing":
        from chalicelib.models.local import HashingEmbedder

        embedder = HashingEmbedder()
    elif settings.embedder == "e5":
        from chalicelib.models.e5 import E5Embedder

        embedder = E5Embedder(threads=settings.embedder_threads)
    elif settings.embedder == "use":
        from chalicelib.models.use import UseEmbedder

        embedder = UseEmbedder(threads=settings.embedder_threads)
    elif settings.embedder == "minilm":
        from chalicelib.models.local import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder()
    else:
        raise ConfigurationError(f"SIFT_EMBEDDER={settings.embedder!r}; choose e5, use, minilm, hashing or bedrock:<model id>")
    if settings.embedding_cache is not None:
        from chalicelib.models.cache import CachingEmbedder

        embedder = CachingEmbedder(embedder, settings.embedding_cache)
    return embedder


def build_image_embedder(settings: Settings, clients: AwsClients | None = None) -> ImageEmbedder | None:
    """The multimodal model of new knowledge bases' image indexes; ``None`` when none is configured."""
    model_id = bedrock_model_id(settings.image_embedder)
    if model_id is None:
        return None
    from chalicelib.models.bedrock import image_embedders

    return _bedrock_model(
        "SIFT_IMAGE_EMBEDDER", image_embedders.build_image_embedder,
        (clients or AwsClients(settings)).bedrock_runtime, model_id, dimension=settings.image_embedding_dimensions,
    )


def image_queries(
    settings: Settings, clients: AwsClients, image_embedder: ImageEmbedder | None
) -> ImageQueryEmbedder | None:
    if image_embedder is None:
        return None
    from chalicelib.core.images import ImageQueryEmbedder
    from chalicelib.sources.images import ImageLoader

    loader = ImageLoader(clients.s3, allow_private_hosts=settings.image_fetch_private_hosts)
    return ImageQueryEmbedder(loader, image_embedder)


def build_rerankers(settings: Settings, clients: AwsClients | None = None) -> RerankerRegistry:
    """Every documented rerank ModelName, each served by the model its selector names (one adapter per model)."""
    from chalicelib.core.rerankers import RerankerRegistry

    built: dict[str, Reranker] = {}

    def reranker(name: str, selector: str) -> Reranker:
        key = f"{selector}|{'hybrid' if name.endswith('-hybrid') else 'semantic'}"
        if key not in built:
            built[key] = _reranker(settings, clients, name, selector)
        return built[key]

    selectors = {name: settings.rerank_models.get(name, settings.reranker) for name in RERANK_MODEL_NAMES}
    return RerankerRegistry(
        {name: reranker(name, selector) for name, selector in selectors.items()}, default="qwen3-rerank-hybrid"
    )


def _reranker(settings: Settings, clients: AwsClients | None, name: str, selector: str) -> Reranker:
    model_id = bedrock_model_id(selector)
    if model_id is None:
        from chalicelib.models.local_rerank import LocalReranker

        # The -hybrid names weigh the recall scores in; the others judge the text alone.
        return LocalReranker("hybrid" if name.endswith("-hybrid") else "semantic")
    from chalicelib.models.bedrock.rankers import BedrockReranker

    return BedrockReranker((clients or AwsClients(settings)).bedrock_agent_runtime, _model_arn(settings, model_id))


def build_rewriter(settings: Settings, clients: AwsClients | None = None) -> QueryRewriter:
    model_id = bedrock_model_id(settings.rewriter)
    if model_id is None:
        from chalicelib.models.local_rewrite import ContextRewriter

        return ContextRewriter()
    from chalicelib.models.bedrock.generators import ConverseRewriter

    return ConverseRewriter((clients or AwsClients(settings)).bedrock_runtime, model_id)


def _model_arn(settings: Settings, model_id: str) -> str:
    """The Rerank API wants a model ARN; a bare foundation-model id is turned into one in the Bedrock region."""
    if model_id.startswith("arn:"):
        return model_id
    region = settings.bedrock_region or settings.region
    if not region:
        raise ConfigurationError("a Bedrock rerank model id needs a region (AWS_REGION or SIFT_BEDROCK_REGION)")
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


def _family(model_id: str, variable: str) -> str:
    from chalicelib.models.bedrock.embedders import model_family

    try:
        return model_family(model_id)
    except ValueError as exc:
        raise ConfigurationError(f"{variable}: {exc}") from None


def _bedrock_model(variable: str, factory: Any, client: Any, model_id: str, **options: Any) -> Any:
    """Build a Bedrock adapter, turning a bad id or size into a ``ConfigurationError`` that names the variable."""
    try:
        return factory(client, model_id, **options)
    except ValueError as exc:
        raise ConfigurationError(f"{variable}: {exc}") from None
